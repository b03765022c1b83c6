// bounds.test.mjs - no notification makes the relay hold unbounded memory
//
// The memory attacks of README "Security", against the worker relay of a
// database where pg_realtime.seal = off, the case where a role with no
// grants can make the relay parse anything (sealed, these notifications are
// dropped before parsing: security.test.mjs).  The relay's memory is read
// from /proc/PID/status; the bound stated for each attack is far below what
// it took before the bounds (2 GB, and out of memory).  A session keeps a
// transaction open through all of it and must find it intact.  And an
// allocation that fails in the worker ends the worker, never the server.
//
// Timing: attackers send in batches and the relay's counters are waited for
// after each one (nothing is slept on); the relay drains notifications as
// fast as it can parse them, on any machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';

import { health, procStatusKb, useCluster, waitRelayReady, workerPid } from './lib/cluster.mjs';
import { WsClient, isEvent } from './lib/clients.mjs';
import { session } from './lib/pg.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18762;
const REPLAY_MB = 16;
const sessions = [];
let bystander;
async function open(opts) {
  const s = await session(cluster, opts);
  sessions.push(s);
  return s;
}

const cluster = useCluster({
  name: 'bounds', port: 55482, relayPort: RELAY,
  conf: ['pg_realtime.seal = off', `pg_realtime.replay_bytes = ${REPLAY_MB}MB`],
  setup: async (c) => {
    await c.sql(`
      CREATE ROLE mallory LOGIN;
      CREATE ROLE writer LOGIN;
      CREATE TABLE files (id int PRIMARY KEY, body text);
      SELECT realtime.track('public.files', read => ARRAY['any']);
      GRANT INSERT ON files TO writer;
      CREATE TABLE ledger (n int);`);
    // a session with a transaction open through the attacks: the server must
    // not restart under it
    bystander = await open();
    await bystander.query('BEGIN; INSERT INTO ledger VALUES (1)');
  },
  teardown: async () => {
    for (const s of sessions) await s.end().catch(() => {});
  },
});


/* The worker's resident memory now and at its peak, in MB. */
async function relayMemory() {
  const pid = await workerPid(cluster);
  return { pid, rss: procStatusKb(pid, 'VmRSS') / 1024, peak: procStatusKb(pid, 'VmHWM') / 1024 };
}

/*
 * A made-up event of about 8 kB whose payload is arrays nested 200 deep, 20
 * times: 4,000 JSON values in 8,000 bytes, which json-c builds into a tree a
 * few hundred times bigger than the text.
 */
function nestedEvent(i, read) {
  const chain = `${'['.repeat(200)}${']'.repeat(200)}`;
  const deep = `[${Array(19).fill(chain).join(',')}]`;
  return `{"v":1,"event":"databases.postgres.collections.files.documents.${i}.create","action":"create",` +
    `"databaseId":"postgres","collectionId":"files","documentId":"${i}","read":${JSON.stringify(read)},` +
    `"payload":{"$id":"${i}","deep":${deep},"seq":${i}},"seq":${i}}`;
}

/* Wait until the relay counted n more events received or dropped than in h0. */
function processed(h0, n) {
  return waitFor(async () => {
    const h = await health(RELAY);
    return h.events.received + h.events.invalid >= h0.events.received + h0.events.invalid + n ? h : null;
  }, { timeout: 30000, what: `the relay to take ${n} notifications` });
}


test('1,000 notifications of deeply nested 8 kB JSON from a role with no grants: the relay stays under +48 MB', async (t) => {
  const mallory = await open({ user: 'mallory' });
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    const start = await relayMemory();
    const h0 = await health(RELAY);
    let sent = 0;
    for (let batch = 0; batch < 20; batch++) {
      // half of them for no reader ("read":[]): those are not even kept
      const notes = [];
      for (let i = 0; i < 50; i++, sent++)
        notes.push(nestedEvent(sent, sent % 2 ? [] : ['any']));
      await mallory.query(`SELECT pg_notify('pg_realtime', n) FROM unnest($1::text[]) n`, [notes]);
      await processed(h0, sent);
      const m = await relayMemory();
      assert.ok(m.rss - start.rss < 48, `after ${sent} notifications the relay holds ${(m.rss - start.rss).toFixed(1)} MB more`);
    }
    const end = await relayMemory();
    t.diagnostic(`relay RSS ${start.rss.toFixed(1)} MB before, ${end.rss.toFixed(1)} MB after, peak ${end.peak.toFixed(1)} MB`);
    assert.equal(end.pid, start.pid, 'the same worker all along');
    assert.ok(end.peak - start.rss < 48, `the relay's peak grew by ${(end.peak - start.rss).toFixed(1)} MB`);
    assert.ok(Buffer.byteLength(nestedEvent(1, ["any"])) > 7800, "8 kB notifications");
    // plaintext is accepted here (seal = off): the readable ones went out, trimmed nothing
    const first = await ws.inbox.take(isEvent(), 5000, 'a made-up event');
    assert.equal(first.data.payload.deep.length, 19);
  } finally {
    await ws.close();
  }
});

test('300 pointer notifications to one 10 MB large event: one fetch, one delivery, the relay under +128 MB', async (t) => {
  const writer = await open({ user: 'writer' });
  const mallory = await open({ user: 'mallory' });
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    const start = await relayMemory();
    await writer.query(`INSERT INTO files VALUES (100000, repeat('0123456789', 1048576))`);
    const big = await ws.inbox.take((m) => isEvent()(m) && m.data.payload.id === 100000, 20000, 'the 10 MB event');
    assert.equal(big.data.payload.body.length, 10 * 1048576);
    const id = Number(await cluster.sql('SELECT max(id) FROM realtime.large_events'));
    const h0 = await health(RELAY);
    const pointer = (i) => JSON.stringify({ v: 1, large: id, bytes: 10485760, seq: i });
    for (let batch = 0; batch < 6; batch++) {
      const notes = Array.from({ length: 50 }, (_, i) => pointer(batch * 50 + i));
      await mallory.query(`SELECT pg_notify('pg_realtime', n) FROM unnest($1::text[]) n`, [notes]);
      await processed(h0, (batch + 1) * 50);
      const m = await relayMemory();
      assert.ok(m.rss - start.rss < 128, `after ${(batch + 1) * 50} pointers the relay holds ${(m.rss - start.rss).toFixed(1)} MB more`);
    }
    const h = await health(RELAY);
    assert.equal(h.events.dropped.duplicate - h0.events.dropped.duplicate, 300, 'every pointer was a duplicate');
    await writer.query(`INSERT INTO files VALUES (100001, 'small')`);
    const next = await ws.inbox.take(isEvent(), 5000, 'the next event');
    assert.equal(next.data.payload.id, 100001, 'no copy of the large event came before it');
    const end = await relayMemory();
    t.diagnostic(`relay RSS ${start.rss.toFixed(1)} MB before, ${end.rss.toFixed(1)} MB after, peak ${end.peak.toFixed(1)} MB`);
    assert.ok(end.peak - start.rss < 128, `the relay's peak grew by ${(end.peak - start.rss).toFixed(1)} MB`);
  } finally {
    await ws.close();
  }
});

test('the session that kept a transaction open through the attacks finds it intact', async () => {
  const { rows } = await bystander.query('SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM ledger');
  assert.deepEqual(rows[0], { pid: bystander.pid, n: 1 });
  await bystander.query('COMMIT');
  assert.ok(!/terminating any other active server processes/.test(cluster.serverLog()), 'the server never restarted');
});

describe('an allocation that fails in the worker', () => {
  const RELAY2 = 18763;
  const oom = useCluster({
    name: 'oom', port: 55483, relayPort: RELAY2, conf: ['pg_realtime.max_message_size = 16777216'],
  });

  test('ends the worker (FATAL, restarted by the postmaster), not the server', async () => {
    const other = await session(oom);
    try {
      await oom.sql('CREATE TABLE ledger (n int)');
      await other.query('BEGIN; INSERT INTO ledger VALUES (1)');
      const pid = await workerPid(oom);
      // a little more address space than the worker has: its next big allocation fails
      const limit = (procStatusKb(pid, 'VmSize') + 4096) * 1024;
      // as the server's user (the worker's own), which needs no capability
      const prlimit = ['prlimit', `--pid=${pid}`, `--as=${limit}:${limit}`];
      const r = process.getuid?.() === 0 ? spawnSync('runuser', ['-u', 'postgres', '--', ...prlimit])
        : spawnSync(prlimit[0], prlimit.slice(1));
      assert.equal(r.status, 0, `prlimit: ${r.stderr}`);
      // a 12 MB WebSocket message: the relay's input buffer must grow to hold it
      const ws = await WsClient.open(`ws://127.0.0.1:${RELAY2}/v1/realtime?project=p&channels[]=documents`, { maxPayload: 1 << 25 });
      await ws.take('connected');
      ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(12 << 20) }));
      await ws.waitClosed(10000, 'the worker to drop its clients');
      const newPid = await waitFor(async () => {
        const p = await workerPid(oom);
        return p && p !== pid ? p : null;
      }, { timeout: 10000, what: 'a new worker' });
      assert.ok(newPid > 0);
      await waitRelayReady(RELAY2, { timeout: 15000 });
      const log = oom.serverLog();
      assert.match(log, /pg_realtime: out of memory/, 'the worker said why');
      assert.match(log, new RegExp(`background worker "pg_realtime relay" \\(PID ${pid}\\) exited with exit code 1`));
      assert.ok(!/terminating any other active server processes/.test(log), 'no restart of the server');
      const { rows } = await other.query('SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM ledger');
      assert.deepEqual(rows[0], { pid: other.pid, n: 1 }, 'the other session and its transaction are intact');
      await other.query('COMMIT');
    } finally {
      await withTimeout(other.end(), 5000, 'closing the session').catch(() => {});
    }
  });
});
