// wal.test.mjs - the wal transport: nothing lost, resumable positions
//
// A cluster with wal_level = logical whose worker reads a slot, plus
// standalone relays with slots of their own.  Writers insert numbered rows
// in steady single-row transactions; SSE clients (curl) are cut off by
// kill -9 of their relay or of the worker, or by a database restart, and
// resume with Last-Event-ID on the restarted relay or on another one.  What
// they got, in order, must be the table's rows exactly (the single writer's
// commit order is id order).
//
// Timing assumptions: a relay restart, a crash restart of the server and
// a fast database restart each take well under 30 s on a loaded 2-vCPU
// machine; writers are paced (a few ms per commit) so that the clients keep
// up; every wait is for a condition, bounded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { PGBIN, StandaloneRelay, WAL_CONF, health, run, useCluster, waitRelayReady } from './lib/cluster.mjs';
import { WsClient, comparePositions, curlSse, isEvent } from './lib/clients.mjs';
import { waitFor } from './lib/wait.mjs';

const WORKER = 18750;
const cluster = useCluster({
  name: 'wal', port: 55480, relayPort: WORKER,
  conf: [...WAL_CONF, 'pg_realtime.slot_name = worker', 'pg_realtime.reconnect_max_delay = 500ms',
    'pg_realtime.replay_window = 10min', 'max_replication_slots = 20', 'max_wal_senders = 20'],
  setup: (c) => c.sql(`
    CREATE TABLE items (id int PRIMARY KEY, note text);
    SELECT realtime.track('public.items', read => ARRAY['any']);
    CREATE TABLE big (id int PRIMARY KEY, body text);
    SELECT realtime.track('public.big', read => ARRAY['any']);
    CREATE TABLE secret (id int PRIMARY KEY);
    SELECT realtime.track('public.secret', read => ARRAY['users']);`),
});

const relays = [];
const streams = [];
after(async () => {
  streams.forEach((s) => s.kill());
  for (const r of relays) await r.stop().catch(() => r.child?.kill('SIGKILL'));
});

let nextPort = 18751;
async function startRelay(slot, flags = []) {
  const r = new StandaloneRelay({
    port: nextPort++, conninfo: cluster.conninfo,
    flags: ['--transport', 'wal', '--slot-name', slot, '--reconnect-max-delay', '500ms', ...flags],
  });
  relays.push(r);
  await r.start();
  return r;
}

/* Restart a relay killed with -9 on its port, same slot. */
async function restartRelay(r) {
  const again = new StandaloneRelay({ port: r.port, conninfo: r.conninfo, flags: r.flags });
  relays.push(again);
  await again.start();
  return again;
}

function sse(port, channel, headers = []) {
  const s = curlSse(`http://127.0.0.1:${port}/v1/realtime?channels[]=${channel}`, { headers, maxTime: 120 });
  streams.push(s);
  return s;
}

/* The stream is up once "retry: 1000" arrived. */
async function opened(s) {
  await s.records.take((r) => r.retry !== undefined, 10000, 'the stream to open');
  return s;
}

/*
 * A client that keeps every event of table items it receives, and can be
 * moved to another relay with Last-Event-ID (as EventSource reconnects).
 */
class Follower {
  constructor(label) {
    this.label = label;
    this.got = [];				/* payload ids in arrival order */
    this.positions = [];		/* their SSE ids */
    this.lastId = null;
    this.gaps = 0;
    this.stream = null;
  }

  async connect(port) {
    const s = sse(port, 'databases.postgres.collections.items.documents',
      this.lastId ? [`Last-Event-ID: ${this.lastId}`] : []);
    this.stream = s;
    await opened(s);
    (async () => {
      for (;;) {
        let r;
        try {
          r = await s.records.take((x) => x.data !== undefined, 600000, 'records');
        } catch {
          return;				/* the stream ended */
        }
        if (r.event === 'gap')
          this.gaps++;
        else {
          this.got.push(r.json.data.payload.id);
          this.positions.push(r.id);
        }
        if (r.id !== undefined)
          this.lastId = r.id;
      }
    })();
  }

  async waitCount(n, ms = 30000) {
    await waitFor(() => this.got.length >= n, { timeout: ms, what: () => `${this.label} to get ${n} events (has ${this.got.length})` });
  }
}

/*
 * Insert rows from..to one per transaction, paced, in a DO loop (one
 * connection).  Resolves when done; rejects if the connection dies.
 */
function writer(from, to, pauseMs = 5) {
  return cluster.sql(`DO $$ BEGIN
      FOR i IN ${from}..${to} LOOP
        INSERT INTO items VALUES (i, 'row ' || i);
        COMMIT;
        PERFORM pg_sleep(${pauseMs / 1000});
      END LOOP;
    END $$;`, { timeout: 120000 });
}

async function tableIds() {
  const out = await cluster.sql('SELECT id FROM items ORDER BY id');
  return out ? out.split('\n').map(Number) : [];
}

/* The follower got exactly the table's rows with ids in [from, to], in order. */
async function assertExactly(f, from, to, logs = '') {
  const want = (await tableIds()).filter((i) => i >= from && i <= to);
  await waitFor(() => f.got.filter((i) => i >= from && i <= to).length >= want.length,
    { timeout: 30000, what: () => `${f.label} to catch up (${f.got.length} of ${want.length})\n${logs}` });
  const got = f.got.filter((i) => i >= from && i <= to);
  assert.deepEqual(got, want, `${f.label}: every committed row exactly once, in commit order`);
}

test('a relay creates its slot on first start and reuses it after a restart; /v1/health shows the slot', async () => {
  const r = await startRelay('reuse');
  assert.match(r.log, /replication slot "reuse" created/);
  const slots = await cluster.sql("SELECT plugin, slot_type, database FROM pg_replication_slots WHERE slot_name = 'reuse'");
  assert.equal(slots, 'pgoutput|logical|postgres');
  const h = await health(r.port);
  assert.equal(h.database.transport, 'wal');
  assert.equal(h.database.slots[0].slot, 'reuse');
  assert.equal(h.database.slots[0].connected, true);
  for (const k of ['server_lsn', 'received_lsn', 'confirmed_lsn'])
    assert.match(h.database.slots[0][k], /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(typeof h.database.slots[0].lag_bytes, 'number');
  await r.stop();
  const again = await restartRelay(r);
  assert.doesNotMatch(again.log, /created/, 'the existing slot is used');
  assert.match(again.log, /replication slot "reuse": streaming/);
  await again.stop();
});

test('two relays of one slot: the second says the slot is taken and which setting to change', async () => {
  const a = await startRelay('taken');
  const b = new StandaloneRelay({ port: nextPort++, conninfo: cluster.conninfo, flags: ['--transport', 'wal', '--slot-name', 'taken'] });
  relays.push(b);
  b.start().catch(() => {});	/* never ready: its slot is in use */
  await waitFor(() => /is active for PID[\s\S]*own slot_name/.test(b.log), { timeout: 10000, what: () => `the hint in ${b.log}` });
  b.child.kill('SIGKILL');
  await a.stop();
});

test('a role without REPLICATION gets told exactly what to change', async () => {
  await cluster.sql("CREATE ROLE norepl LOGIN; GRANT USAGE ON SCHEMA realtime TO norepl;");
  const r = new StandaloneRelay({
    port: nextPort++, conninfo: `${cluster.conninfo.replace('user=postgres', 'user=norepl')}`,
    flags: ['--transport', 'wal', '--slot-name', 'norepl'],
  });
  relays.push(r);
  r.start().catch(() => {});
  await waitFor(() => /ALTER ROLE name REPLICATION/.test(r.log), { timeout: 10000, what: () => `the hint in ${r.log}` });
  r.child.kill('SIGKILL');
});

test('rolled-back transactions and savepoints, also past a batch flush, send nothing; the rest keeps its order', async () => {
  const s = await opened(sse(WORKER, 'databases.postgres.collections.items.documents'));
  await cluster.sql(`
    BEGIN; INSERT INTO items VALUES (-1); ROLLBACK;
    BEGIN;
      INSERT INTO items VALUES (-2);
      SAVEPOINT a; INSERT INTO items VALUES (-3);
        SAVEPOINT b; INSERT INTO items VALUES (-4); RELEASE b;
      ROLLBACK TO a;
      INSERT INTO items VALUES (-5);
      SAVEPOINT c; INSERT INTO items VALUES (-6); RELEASE c;
    COMMIT;
    -- exception blocks are subtransactions too
    DO $$ BEGIN
      INSERT INTO items VALUES (-7);
      BEGIN INSERT INTO items VALUES (-8); RAISE EXCEPTION 'undo'; EXCEPTION WHEN OTHERS THEN NULL; END;
      INSERT INTO items VALUES (-9);
    END $$;
    -- a transaction big enough to write several messages (1 kB batches):
    -- none is written while a savepoint is open, so that rolling it back
    -- still takes its events (past the batch size) back
    SET pg_realtime.wal_batch_size = 1024;
    BEGIN;
      INSERT INTO items SELECT -g FROM generate_series(10, 29) g;
      SAVEPOINT d; INSERT INTO items VALUES (-30); ROLLBACK TO d;
      SAVEPOINT e; INSERT INTO items SELECT -g FROM generate_series(100, 149) g; ROLLBACK TO e;
      SAVEPOINT f; INSERT INTO items SELECT -g FROM generate_series(200, 219) g; RELEASE f;
      INSERT INTO items VALUES (-31);
    COMMIT;
    DELETE FROM items WHERE id < 0;`);
  const want = [-2, -5, -6, -7, -9, ...Array.from({ length: 20 }, (_, i) => -(10 + i)),
    ...Array.from({ length: 20 }, (_, i) => -(200 + i)), -31];
  const got = [];
  while (got.length < want.length) {
    const e = await s.event();
    if (e.json.data.payload.id < 0 && e.json.data.events[0].endsWith('.create'))
      got.push(e.json.data.payload.id);
  }
  assert.deepEqual(got, want);
  // the wal transport does not know the catalog: no warning about a channel
  assert.deepEqual(s.records.all.filter((r) => r.comment?.startsWith('warning')), [], 'no channel warning');
  s.kill();
});

test('a 10 MB row arrives whole, with no realtime.large_events round trip', async () => {
  const s = await opened(sse(WORKER, 'databases.postgres.collections.big.documents'));
  const before = await cluster.sql('SELECT count(*) FROM realtime.large_events');
  await cluster.sql("INSERT INTO big VALUES (1, repeat('x', 10 * 1024 * 1024))");
  const e = await s.event(() => true, 30000);
  assert.equal(e.json.data.payload.body.length, 10 * 1024 * 1024);
  assert.equal(await cluster.sql('SELECT count(*) FROM realtime.large_events'), before);
  s.kill();
  await cluster.sql('DELETE FROM big');
});

test('kill -9 of a standalone relay under load: resuming on the restarted relay and on another relay, every event exactly once', async () => {
  const a = await startRelay('crash_a');
  const b = await startRelay('crash_b');
  const onA = new Follower('the client resuming on the restarted relay');
  const toB = new Follower('the client moving to the other relay');
  await onA.connect(a.port);
  await toB.connect(a.port);
  const load = writer(1000, 1599);
  await onA.waitCount(100);
  await toB.waitCount(100);
  a.child.kill('SIGKILL');
  await a.exited;
  const a2 = await restartRelay(a);
  await onA.connect(a2.port);
  await toB.connect(b.port);
  await load;
  const logs = `--- relay A\n${a2.log}\n--- relay B\n${b.log}`;
  await assertExactly(onA, 1000, 1599, logs);
  await assertExactly(toB, 1000, 1599, logs);
  assert.equal(onA.gaps + toB.gaps, 0, 'no gap: the window covers the outage');
  await Promise.all([a2.stop(), b.stop()]);
});

test('resuming on a relay whose slot began after the position: a gap signal, then live events, nothing twice', async () => {
  const ahead = await startRelay('ahead');
  const f = new Follower('the client');
  await f.connect(ahead.port);
  await writer(2000, 2019, 1);
  await f.waitCount(20);
  // a brand-new relay whose slot starts now: its window begins after f's position
  const late = await startRelay('late');
  f.stream.kill();
  await f.connect(late.port);
  await writer(2020, 2029, 1);
  await assertExactly(f, 2000, 2029, late.log);
  assert.equal(f.gaps, 1, 'the late relay\'s slot began after the client\'s position: one gap signal');
  await Promise.all([ahead.stop(), late.stop()]);
});

test('kill -9 of the worker under load: resuming on the restarted worker and on a standalone relay, every event exactly once', async () => {
  const b = await startRelay('worker_b');
  const onW = new Follower('the client resuming on the restarted worker');
  const toB = new Follower('the client moving to the standalone relay');
  await onW.connect(WORKER);
  await toB.connect(WORKER);
  const load = writer(3000, 3999).catch(() => null);	/* the crash restart ends its session */
  await onW.waitCount(100);
  process.kill(findWorker(), 'SIGKILL');
  await load;
  await waitRelayReady(WORKER, { timeout: 60000 });
  await onW.connect(WORKER);
  await toB.connect(b.port);
  const n = await cluster.sql('SELECT count(*) FROM items WHERE id BETWEEN 3000 AND 3999');
  await writer(4000, 4199);
  const logs = `--- relay B\n${b.log}\n--- server log\n${cluster.serverLog().slice(-3000)}`;
  assert.ok(Number(n) >= 100, 'rows committed before the crash');
  await assertExactly(onW, 3000, 4199, logs);
  await assertExactly(toB, 3000, 4199, logs);
  await b.stop();
});

/* The worker's pid when pg_stat_activity has no row for it (no database connection). */
function findWorker() {
  const postmaster = fs.readFileSync(path.join(cluster.dir, 'data/postmaster.pid'), 'utf8').split('\n')[0];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === postmaster &&
        fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres: pg_realtime relay'))
        return Number(pid);
    } catch { /* gone */ }
  }
  throw new Error('no worker process');
}

test('the database restarted under load: connected clients miss nothing and get nothing twice', async () => {
  const r = await startRelay('restart');
  const f = new Follower('the client of the standalone relay');
  await f.connect(r.port);
  const load = writer(5000, 5999).catch(() => null);	/* the restart ends its session */
  await f.waitCount(50);
  await cluster.pgCtl(['restart', '-m', 'fast', '-w', '-t', '60', '-l', path.join(cluster.dir, 'server.log')], { timeout: 90000 });
  await load;
  await waitRelayReady(r.port, { timeout: 30000 });
  await writer(6000, 6049, 1);
  await assertExactly(f, 5000, 6049, r.log);
  assert.equal(f.gaps, 0);
  await r.stop();
});

test('a position older than the replay window gets a gap signal, then the window; paced when larger than max_client_output', async () => {
  const r = await startRelay('window', ['--replay-events', '150', '--max-client-output', '64kB']);
  const f = new Follower('the first client');
  await f.connect(r.port);
  await writer(7000, 7199, 10);
  await f.waitCount(200);
  const first = f.positions[f.got.indexOf(7000)];
  f.stream.kill();
  // 200 events of ~2.7 kB went by; the window keeps 150 (over 64 kB: a paced replay)
  const s = sse(r.port, 'databases.postgres.collections.items.documents', [`Last-Event-ID: ${first}`]);
  await opened(s);
  // resuming from the first event: 49 of the 199 after it are gone
  const gap = await s.records.take((x) => x.data !== undefined, 10000, 'the first record');
  assert.equal(gap.event, 'gap');
  const ids = [];
  while (ids.length < 150) ids.push((await s.event(() => true, 20000)).json.data.payload.id);
  assert.deepEqual(ids, Array.from({ length: 150 }, (_, i) => 7050 + i), 'the window, in order');
  assert.ok(comparePositions(gap.id, (await health(r.port)).replay.floor) === 0, 'the gap names the floor');
  assert.equal((await health(r.port)).clients.cut_off, 0, 'paced, not cut off');
  s.kill();
  await r.stop();
});

test('WebSocket "since": the replay follows the first subscription; a connection without it gets live events only', async () => {
  const f = new Follower('a reference client');
  await f.connect(WORKER);
  await writer(8000, 8004, 1);
  await f.waitCount(5);
  f.stream.kill();
  // message mode (SDK v25+): since in the URL, channels by a subscribe message
  const ws = await WsClient.open(`ws://127.0.0.1:${WORKER}/v1/realtime?project=p&since=${encodeURIComponent(f.lastId)}`);
  await ws.take('connected');
  await writer(8005, 8006, 1);
  await ws.subscribe([{ subscriptionId: 'a', channels: ['databases.postgres.collections.items.documents'] }]);
  const ids = [];
  while (ids.length < 2) {
    const e = await ws.inbox.take(isEvent(), 10000);
    assert.match(e.data.position, /^[0-9A-F]+\/[0-9A-F]+:\d+$/);
    ids.push(e.data.payload.id);
  }
  assert.deepEqual(ids, [8005, 8006], 'what came after the position, once subscribed');
  await ws.inbox.none((m) => m.type === 'event', 200, 'an event twice');
  await ws.close();
  // channels in the URL: the replay comes at once
  const url = await WsClient.open(`ws://127.0.0.1:${WORKER}/v1/realtime?project=p&channels[]=documents&since=${encodeURIComponent(f.lastId)}`);
  await url.take('connected');
  assert.equal((await url.inbox.take(isEvent(), 10000)).data.payload.id, 8005);
  await url.close();
  // no since: live events only
  const plain = await WsClient.open(`ws://127.0.0.1:${WORKER}/v1/realtime?project=p&channels[]=documents`);
  await plain.take('connected');
  await writer(8007, 8007, 1);
  assert.equal((await plain.inbox.take(isEvent(), 10000)).data.payload.id, 8007);
  await plain.close();
});

/*
 * PostgreSQL 15 lets PUBLIC call pg_logical_emit_message: a role with no
 * privilege writes a plaintext event, a sealed-looking message with a
 * made-up key, and a copy of a real sealed message (read back from a slot
 * by a superuser, as an attacker who once saw the WAL would have it), alone
 * and inside a transaction of its own real change.  None reaches a
 * subscriber, each is counted in /v1/health, and the real events around
 * them still arrive, in order.
 */
test('forged and replayed pg_logical_emit_message messages are dropped and counted', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${WORKER}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    await cluster.sql(`CREATE ROLE forger LOGIN; GRANT INSERT ON items TO forger;
      SELECT pg_create_logical_replication_slot('peek', 'pgoutput');`);
    const before = (await health(WORKER)).events.dropped;

    /* a real sealed message, copied from the WAL */
    await cluster.sql('INSERT INTO items VALUES (8999)');
    assert.equal((await ws.inbox.take(isEvent(), 10000)).data.payload.id, 8999);
    const hex = await cluster.sql(`SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('peek', NULL, NULL,
        'proto_version', '1', 'publication_names', 'pg_realtime', 'messages', 'true')
      WHERE get_byte(data, 0) = ascii('M') LIMIT 1`);
    await cluster.sql("SELECT pg_drop_replication_slot('peek')");
    const m = Buffer.from(hex, 'hex');
    const prefixEnd = m.indexOf(0, 10);		/* 'M', flags, lsn (8), prefix NUL */
    assert.equal(m.subarray(10, prefixEnd).toString(), 'pg_realtime');
    const sealed = m.subarray(prefixEnd + 5, prefixEnd + 5 + m.readUInt32BE(prefixEnd + 1));
    assert.equal(sealed.subarray(0, 4).toString(), 'rtw1', 'the trigger wrote a sealed message');

    const ev = JSON.stringify({
      v: 1, event: 'databases.postgres.collections.items.documents.666.create', action: 'create',
      databaseId: 'postgres', collectionId: 'items', documentId: '666', read: ['any'],
      payload: { $id: '666', $collectionId: 'items', $databaseId: 'postgres', $createdAt: null, $updatedAt: null, $permissions: [], id: 666 }, seq: 1,
    });
    const len = Buffer.alloc(4);
    len.writeUInt32BE(Buffer.byteLength(ev));
    const plaintext = `'\\x${len.toString('hex')}'::bytea || convert_to('${ev}', 'UTF8')`;
    const madeUp = `'\\x${Buffer.concat([Buffer.from('rtw1'), Buffer.alloc(60, 7)]).toString('hex')}'::bytea`;
    const copy = `'\\x${sealed.toString('hex')}'::bytea`;
    const asForger = (sql) => run(path.join(PGBIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', cluster.dir,
      '-p', String(cluster.port), '-U', 'forger', '-d', 'postgres', '-c', sql]);
    await asForger(`SELECT pg_logical_emit_message(true, 'pg_realtime', ${plaintext})`);
    await asForger(`SELECT pg_logical_emit_message(true, 'pg_realtime', ${madeUp})`);
    await asForger(`SELECT pg_logical_emit_message(true, 'pg_realtime', ${copy})`);
    /* in a transaction with a real event of the forger's: before and after it */
    await asForger(`BEGIN; SELECT pg_logical_emit_message(true, 'pg_realtime', ${copy});
      INSERT INTO items VALUES (9001);
      SELECT pg_logical_emit_message(true, 'pg_realtime', ${copy});
      SELECT pg_logical_emit_message(true, 'pg_realtime', ${plaintext}); COMMIT;`);
    await cluster.sql('INSERT INTO items VALUES (9000)');
    assert.equal((await ws.inbox.take(isEvent(), 10000)).data.payload.id, 9001);
    assert.equal((await ws.inbox.take(isEvent(), 10000)).data.payload.id, 9000);
    const after = await waitFor(async () => {
      const d = (await health(WORKER)).events.dropped;
      return d.replayed - before.replayed >= 3 ? d : null;
    }, { what: 'the relay to count the copies' });
    assert.equal(after.unsealed - before.unsealed, 2, 'the plaintext messages');
    assert.equal(after.replayed - before.replayed, 3, 'the copies of a real message');
    assert.equal(after.unknown_key - before.unknown_key + after.forged - before.forged, 1, 'the made-up one');
    assert.equal(ws.inbox.items.filter(isEvent()).length, 0, 'nothing else arrived');
  } finally {
    await ws.close();
  }
});

/*
 * A rotation is announced in the WAL under the old key; the relay reads
 * the new key before the first message sealed with it (it reconnects at the
 * announcement's commit and resumes), so nothing is lost or repeated.
 */
test('a key rotation: the relay reads the new key and misses nothing', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${WORKER}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    const before = (await health(WORKER)).events.dropped;
    await cluster.sql('INSERT INTO items VALUES (9200)');
    await cluster.sql("SELECT realtime.rotate_key('1 hour')");
    await cluster.sql('INSERT INTO items VALUES (9201)');	/* a new session: sealed with the new key */
    await cluster.sql("SELECT realtime.rotate_key('0')");	/* the old keys retired at once */
    await cluster.sql('INSERT INTO items VALUES (9202)');
    /* a rotation in a transaction that writes messages before its commit */
    await cluster.sql(`SET pg_realtime.wal_batch_size = 1024;
      BEGIN; SELECT realtime.rotate_key('1 hour');
      INSERT INTO items SELECT g FROM generate_series(9210, 9229) g; COMMIT;`);
    const want = [9200, 9201, 9202, ...Array.from({ length: 20 }, (_, i) => 9210 + i)];
    const got = [];
    for (let i = 0; i < want.length; i++)
      got.push((await ws.inbox.take(isEvent(), 15000, `event ${i + 1} of ${want.length}`)).data.payload.id);
    assert.deepEqual(got, want);
    const after = (await health(WORKER)).events.dropped;
    assert.equal(after.unknown_key, before.unknown_key);
    assert.equal(after.forged, before.forged);
    assert.equal(after.replayed, before.replayed);
  } finally {
    await ws.close();
  }
});

test('events nobody may read are not kept for replay', async () => {
  await cluster.sql(`CREATE TABLE nobody (id int PRIMARY KEY);
    SELECT realtime.track('public.nobody', read => ARRAY[]::text[]);`);
  const before = (await health(WORKER)).replay.events;
  await cluster.sql('INSERT INTO nobody SELECT generate_series(1, 50)');
  await cluster.sql('INSERT INTO items VALUES (9100)');
  const h = await waitFor(async () => {
    const x = await health(WORKER);
    return x.replay.events > before ? x : null;
  }, { what: 'the window to take the readable event' });
  assert.equal(h.replay.events, before + 1, 'the 50 unreadable events were not kept');
});
