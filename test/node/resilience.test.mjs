// resilience.test.mjs - the relay survives crashes and dropped connections, and shuts down cleanly
//
// The worker killed with kill -9 (the postmaster restarts everything), the
// LISTEN connection killed with pg_terminate_backend, and a fast shutdown
// with clients connected.  The last test stops the cluster.  Timing: every
// wait is for a condition (a reconnect, an event, a close), with deadlines
// far above what a loaded machine needs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';

import { PGBIN, health, postmasterPid, run, test, useCluster, waitRelayReady, workerPid } from './lib/cluster.mjs';
import { OP, WsClient, curlSse, isEvent, rawWebSocket } from './lib/clients.mjs';
import { Channel, Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { sleep, waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18712;
const realtimes = [];
const cluster = useCluster({
  name: 'resilience', port: 55452, relayPort: RELAY,
  // a stalled client keeps its backlog until the shutdown (see the last test)
  conf: ['pg_realtime.reconnect_max_delay = 500ms', 'pg_realtime.max_client_output = 64MB',
    'pg_realtime.client_output_soft_limit = 64kB', 'pg_realtime.client_output_grace = 10min'],
  setup: (c) => c.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
  },
});
const WS_URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`;

/* True while a process exists. */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('after kill -9 of the worker the postmaster restarts it; the SDK reconnects by itself and gets new events', async () => {
  const client = new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('demo');
  const rt = new Realtime(client);
  realtimes.push(rt);
  const { events } = await subscribeAndWait(rt, Channel.database('postgres').collection('orders').document());
  const ws = await WsClient.open(WS_URL);
  await ws.take('connected');

  const pid = await workerPid(cluster);
  assert.ok(pid > 0, 'found the worker process');
  process.kill(pid, 'SIGKILL');

  const closed = await ws.waitClosed(5000, 'the WebSocket to drop with the worker');
  assert.equal(closed.code, 1006, 'no close frame from a killed process');
  await waitRelayReady(RELAY, { timeout: 30000 });
  const newPid = await waitFor(() => workerPid(cluster), { timeout: 5000, what: 'the new worker' });
  assert.notEqual(newPid, pid);

  // the SDK retries after 1 s and re-sends its subscription on "connected"
  const socket = await waitFor(() => {
    const s = rt.socket;
    return s?.readyState === WebSocket.OPEN && s.inbox.all.some((m) => m.type === 'response' && m.data?.to === 'subscribe')
      ? s : null;
  }, { timeout: 10000, what: 'the SDK to reconnect and resubscribe' });
  assert.equal(socket.inbox.all[0].type, 'connected');
  const fresh = await WsClient.open(WS_URL);
  try {
    await fresh.take('connected');
    await cluster.sql(`INSERT INTO orders VALUES (1, 'after crash')`);
    assert.equal((await events.take(() => true, 5000, 'the event through the reconnected SDK')).payload.id, 1);
    assert.equal((await fresh.inbox.take(isEvent())).data.payload.id, 1);
  } finally {
    await fresh.close();
    await withTimeout(rt.disconnect(), 3000, 'SDK disconnect');
  }
});

test('the LISTEN connection killed with pg_terminate_backend is re-established; open clients get a gap signal, then keep receiving', async () => {
  const ws = await WsClient.open(WS_URL);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`);
  await sse.records.take(() => true, 5000, 'the SSE stream to open');
  await cluster.sql(`INSERT INTO orders VALUES (5001, 'before the loss')`);
  const lastBefore = await sse.event();
  assert.equal((await ws.inbox.take(isEvent())).data.payload.id, 5001);
  const before = (await health(RELAY)).database.reconnects;
  const killed = await cluster.sql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE application_name = 'pg_realtime' AND backend_type = 'client backend'`);
  assert.equal(killed, '1', 'one LISTEN connection');
  const h = await waitRelayReady(RELAY, { timeout: 10000, since: (x) => x.database.reconnects > before });
  assert.equal(h.database.reconnects, before + 1);
  await cluster.sql(`INSERT INTO orders VALUES (2, 'after reconnect')`);
  const gap = await ws.inbox.take((m) => m.type === 'gap' || m.type === 'event', 5000, 'the gap signal');
  assert.equal(gap.type, 'gap', 'events committed while not listening may be lost: the client is told first');
  const sseGap = await sse.gap();
  assert.equal(sseGap.id, gap.data.position, 'one gap position for every client');
  const e = await ws.inbox.take(isEvent(), 5000, 'the event after the reconnect');
  assert.equal(e.data.payload.id, 2);
  assert.equal(ws.ws.readyState, ws.ws.OPEN, 'the connection stayed open');
  assert.equal((await sse.event()).json.data.payload.id, 2);
  sse.kill();
  await ws.close();
  // a client resuming from before the loss gets the gap too; from the gap's position, none
  const old = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`, { headers: [`Last-Event-ID: ${lastBefore.id}`] });
  assert.equal((await old.records.take((r) => r.data !== undefined)).event, 'gap');
  assert.equal((await old.event()).json.data.payload.id, 2);
  old.kill();
  const after = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`, { headers: [`Last-Event-ID: ${gap.data.position}`] });
  assert.equal((await after.records.take((r) => r.data !== undefined)).json.data.payload.id, 2, 'no gap: complete after it');
  after.kill();
});

test('malformed notifications on the channel are counted and skipped; delivery goes on', async () => {
  const ws = await WsClient.open(WS_URL);
  try {
    await ws.take('connected');
    const before = (await health(RELAY)).events.invalid;
    await cluster.sql(`
      SELECT pg_notify('pg_realtime', 'not json');
      SELECT pg_notify('pg_realtime', '{"v":99}');
      SELECT pg_notify('pg_realtime', '{"v":1,"large":424242,"bytes":10,"seq":1}');
      INSERT INTO orders VALUES (3, 'after garbage');`);
    assert.equal((await ws.inbox.take(isEvent())).data.payload.id, 3);
    const h = await waitFor(async () => {
      const x = await health(RELAY);
      return x.events.invalid >= before + 2 ? x : null;
    }, { what: 'the invalid notifications to be counted' });
    assert.equal(h.status, 'ok');
  } finally {
    await ws.close();
  }
});

// more forgeries, replays and sealing: security.test.mjs
test('an event forged with pg_notify() by an unprivileged role is not delivered', async () => {
  const ws = await WsClient.open(WS_URL);
  try {
    await ws.take('connected');
    await cluster.sql('CREATE ROLE mallory LOGIN');
    const forged = JSON.stringify({
      v: 1, event: 'databases.postgres.collections.orders.documents.666.create', action: 'create',
      databaseId: 'postgres', collectionId: 'orders', documentId: '666', read: ['any'],
      payload: { $id: '666', $collectionId: 'orders', $databaseId: 'postgres', $createdAt: null, $updatedAt: null,
        $permissions: [], id: 666, status: 'forged' }, seq: 1,
    });
    await run(path.join(PGBIN, 'psql'), ['-X', '-q', '-h', cluster.dir, '-p', String(cluster.port), '-U', 'mallory',
      '-d', 'postgres', '-c', `SELECT pg_notify('pg_realtime', '${forged}')`]);
    await cluster.sql(`INSERT INTO orders VALUES (4, 'real')`);
    const first = await ws.inbox.take(isEvent());
    assert.equal(first.data.payload.id, 4, `got ${JSON.stringify(first.data.payload)}`);
  } finally {
    await ws.close();
  }
});

// timing: 1.5 s of quiet is the measurement, not a wait for something; CPU
// time does not grow with the machine's load
test('an idle worker with clients connected uses no CPU (no polling)', async () => {
  const ws = await WsClient.open(WS_URL);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`);
  try {
    await sse.records.take(() => true, 5000, 'the SSE stream to open');
    const pid = await workerPid(cluster);
    const ticks = () => {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime
    };
    const before = ticks();
    await sleep(1500);
    assert.ok(ticks() - before <= 1, `the worker used ${ticks() - before} clock ticks in 1.5 s of quiet`);
  } finally {
    sse.kill();
    await ws.close();
  }
});

test('pg_ctl stop -m fast: WebSockets get close 1001 and SSE streams end, even with a stalled client', async () => {
  const ws = await WsClient.open(WS_URL);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`);
  // a client that stopped reading with output queued must not hold up the shutdown
  const stalled = await rawWebSocket(RELAY, '/v1/realtime?project=p&channels[]=documents');
  try {
    await sse.records.take(() => true, 5000, 'the SSE stream to open');
    await stalled.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
    stalled.sock.pause();
    // ~6 MB: more than the kernel buffers hold for a peer that never reads,
    // so the relay itself holds output for the stalled client
    await cluster.sql(`INSERT INTO orders SELECT g, repeat('s', 5000) FROM generate_series(100, 1299) g`);
    await ws.inbox.take((m) => m.data?.payload?.id === 1299, 20000, 'the last of the burst');
    assert.ok((await health(RELAY)).clients.over_soft_limit >= 1, 'the stalled client has output queued in the relay');
    const t0 = Date.now();
    await cluster.pgCtl(['stop', '-m', 'fast', '-w', '-t', '30'], { timeout: 40000 });
    assert.ok(Date.now() - t0 < 10000, `shutdown took ${Date.now() - t0} ms`);
    const { code, reason } = await ws.waitClosed(5000, 'close 1001');
    assert.equal(code, 1001);
    assert.match(reason, /shutting down/);
    const exit = await withTimeout(sse.exited, 5000, 'curl to see the end of the stream');
    assert.equal(exit.code, 0, `curl: ${exit.stderr}`);
  } finally {
    sse.kill();
    stalled.destroy();
  }
});

describe('postmaster death', () => {
  const RELAY2 = 18713;
  const doomed = useCluster({ name: 'doomed', port: 55453, relayPort: RELAY2 });

  test('the worker exits at once when the postmaster is killed, dropping its clients', async () => {
    const ws = await WsClient.open(`ws://127.0.0.1:${RELAY2}/v1/realtime?project=p&channels[]=documents`);
    await ws.take('connected');
    const pid = await workerPid(doomed);
    assert.ok(pid > 0);
    process.kill(Number(postmasterPid(doomed)), 'SIGKILL');
    await ws.waitClosed(5000, 'the worker to drop its clients');
    await waitFor(() => !alive(pid), { timeout: 5000, what: `worker ${pid} to exit` });
    await assert.rejects(health(RELAY2, { timeout: 1000 }), 'nothing listens on the relay port any more');
  });
});
