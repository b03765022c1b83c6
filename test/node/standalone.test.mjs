// standalone.test.mjs - two pg_realtime_relay processes on one database
//
// Users who outgrow one machine run several standalone relays behind a load
// balancer, each LISTENing on its own connection.  The cluster here does
// not preload pg_realtime: the triggers need no worker.  Timing: waits are
// for conditions (ready, reconnected, an event); the 1 s in the descriptor
// test is the window over which CPU time is measured.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { StandaloneRelay, TRANSPORT, health, test, useCluster, waitRelayReady } from './lib/cluster.mjs';
import { RawSocket, WsClient, curlSse, isEvent } from './lib/clients.mjs';
import { sleep, waitFor, withTimeout } from './lib/wait.mjs';

const PORTS = [18715, 18716];
const cluster = useCluster({
  name: 'standalone', port: 55455,
  setup: (c) => c.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  teardown: async () => {
    for (const r of relays) await r.stop().catch((e) => console.error(e.message));
    if (process.env.DEBUG_RELAY) relays.forEach((r) => console.error(r.log));
  },
});
const relays = [];

/* One WebSocket on "documents" per relay port, past "connected". */
async function connectEach(ports) {
  return Promise.all(ports.map(async (port) => {
    const c = await WsClient.open(`ws://127.0.0.1:${port}/v1/realtime?project=demo&channels[]=documents`);
    await c.take('connected');
    return c;
  }));
}

test('two standalone relays on one database both deliver the same event', async () => {
  for (const port of PORTS) {
    const r = new StandaloneRelay({ port, conninfo: cluster.conninfo, flags: ['--project', 'demo', '--reconnect-max-delay', '500'] });
    relays.push(r);
    await r.start();
  }
  const clients = await connectEach(PORTS);
  try {
    await cluster.sql(`INSERT INTO orders VALUES (1, 'new')`);
    const [a, b] = await Promise.all(clients.map((c) => c.inbox.take(isEvent(), 5000, 'the event')));
    assert.equal(a.data.payload.id, 1);
    // each relay stamps the event when it receives it, and names its own subscription ids
    // with wal, timestamp (commit time) and position are the same on every relay too
    const strip = (m) => (TRANSPORT === 'wal' ? { ...m.data, subscriptions: null }
      : { ...m.data, subscriptions: null, timestamp: null, position: null });
    assert.deepEqual(strip(a), strip(b), 'the same event from both relays');
    for (const port of PORTS) {
      const h = await health(port);
      const { listeners, connected, reconnects, transport } = h.database;
      assert.deepEqual({ listeners, connected, reconnects, transport }, { listeners: 1, connected: 1, reconnects: 0, transport: TRANSPORT });
    }
    const listeners = TRANSPORT === 'wal'
      ? await cluster.sql(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'`)
      : await cluster.sql(`SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'`);
    assert.equal(listeners, '2', 'each relay reads on its own connection');
  } finally {
    for (const c of clients) await c.close();
  }
});

test('the database restarting under the relays: they reconnect with backoff, clients stay connected', async () => {
  const clients = await connectEach(PORTS);
  try {
    await cluster.pgCtl(['restart', '-m', 'fast', '-w', '-t', '30', '-l', `${cluster.dir}/server.log`], { timeout: 40000 });
    for (const port of PORTS)
      await waitRelayReady(port, { timeout: 15000, since: (h) => h.database.reconnects >= 1 });
    await cluster.sql(`INSERT INTO orders VALUES (10, 'after restart')`);
    for (const c of clients) {
      assert.equal((await c.inbox.take(isEvent(), 5000, 'the event after the restart')).data.payload.id, 10);
      assert.equal(c.ws.readyState, c.ws.OPEN);
    }
  } finally {
    for (const c of clients) await c.close();
  }
});

test('out of file descriptors (ulimit -n 40), extra clients get 503 and the relay does not spin', async () => {
  const r = new StandaloneRelay({ port: 18717, conninfo: cluster.conninfo, nofile: 40 });
  relays.push(r);
  await r.start();
  const held = [];
  try {
    for (let i = 0; i < 50; i++) held.push(await RawSocket.connect(18717)); // more than it has descriptors
    const cpu = () => {
      const st = fs.readFileSync(`/proc/${r.child.pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    const before = cpu();
    const refused = await waitFor(() => held.filter((s) => /^HTTP\/1\.1 503 /.test(s.text())).length >= 10,
      { timeout: 5000, what: 'the connections over the limit to get 503' });
    assert.ok(refused);
    await sleep(1000);
    assert.ok(cpu() - before <= 10, `the relay used ${cpu() - before} ticks while out of descriptors`);
    held.forEach((s) => s.destroy());
    held.length = 0;
    const h = await waitFor(async () => { try { return await health(18717); } catch { return null; } },
      { what: 'the relay to serve again once descriptors are free' });
    assert.ok(h.clients.refused >= 10 && h.clients.refused < 100, `refused ${h.clients.refused}: once per connection`);
  } finally {
    held.forEach((s) => s.destroy());
    await r.stop();
  }
});

test('flags work like the GUCs: --project refuses other projects with 1008', async () => {
  const c = await WsClient.open(`ws://127.0.0.1:${PORTS[0]}/v1/realtime?project=other`);
  assert.equal((await c.take('error')).data.code, 1008);
  assert.equal((await c.waitClosed()).code, 1008);
});

test('SIGTERM: the relay closes WebSockets with 1001, ends SSE streams and exits 0', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${PORTS[1]}/v1/realtime?project=demo&channels[]=documents`);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${PORTS[1]}/v1/realtime?project=demo&channels[]=documents`);
  try {
    await sse.records.take(() => true, 5000, 'the SSE stream to open');
    const exit = await relays[1].stop();
    assert.deepEqual(exit, { code: 0, signal: null }, relays[1].log);
    assert.equal((await ws.waitClosed()).code, 1001);
    assert.equal((await withTimeout(sse.exited, 5000, 'curl to exit')).code, 0);
  } finally {
    sse.kill();
  }
  // the other relay is unaffected
  const c = await WsClient.open(`ws://127.0.0.1:${PORTS[0]}/v1/realtime?project=demo&channels[]=documents`);
  await c.take('connected');
  await cluster.sql(`INSERT INTO orders VALUES (2, 'new')`);
  assert.equal((await c.inbox.take(isEvent())).data.payload.id, 2);
  await c.close();
});
