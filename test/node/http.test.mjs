// http.test.mjs - bad and slow clients get the protocol's answer; nobody else waits
//
// Raw TCP sockets speak broken HTTP, never finish their request head, open
// too many connections, stay silent, or stop reading; each gets an HTTP
// status or a close code, and a well-behaved client next to them keeps
// receiving everything.  Each group has a cluster with low limits.
//
// Timing: deadlines are checked from below exactly (a relay timer never
// fires early) and from above only loosely (a loaded machine fires it late);
// a writer whose reader must keep up waits for the reader.
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { TRANSPORT, health, test, useCluster } from './lib/cluster.mjs';
import { OP, RawSocket, WsClient, closeCode, isEvent, rawHttp, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { sleep, waitFor, withTimeout } from './lib/wait.mjs';

const TABLE = `
  CREATE TABLE orders (id int PRIMARY KEY, body text);
  SELECT realtime.track('public.orders', read => ARRAY['any']);`;

describe('HTTP requests', () => {
  const RELAY = 18706;
  const cluster = useCluster({
    name: 'http', port: 55446, relayPort: RELAY, setup: (c) => c.sql(TABLE),
    conf: ['pg_realtime.handshake_timeout = 500ms', 'pg_realtime.max_connections = 4'],
  });

  test('a malformed request gets 400 with a JSON error body, then the connection closes', async () => {
    const r = await rawHttp(RELAY, 'HELLO THERE\r\n\r\n');
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    assert.deepEqual(JSON.parse(r.body), { message: 'malformed HTTP request', code: 400 });
  });

  test('a path other than /v1/realtime or /v1/health gets 404', async () => {
    const r = await rawHttp(RELAY, 'GET /v1/account HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).code, 404);
  });

  test('a POST to /v1/realtime gets 405 with Allow: GET', async () => {
    const r = await rawHttp(RELAY, 'POST /v1/realtime HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET');
  });

  test('an upgrade without Sec-WebSocket-Version 13 gets 426', async () => {
    const r = await rawHttp(RELAY, 'GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n');
    assert.equal(r.status, 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  // timing: the deadline runs from the accept, so the answer cannot come
  // before 500 ms; on a loaded machine it may come late, hence the wide upper
  // bound, which only has to tell 500 ms from the 10 s default
  test('slowloris: a head still trickling in after pg_realtime.handshake_timeout (500ms) gets 408', async () => {
    const r = await RawSocket.connect(RELAY);
    const t0 = Date.now();
    r.write('GET /v1/realtime?project=x HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => { if (!r.sock.destroyed) r.write('X'); }, 100);
    try {
      await r.waitEnd(8000, 'the relay to give up on the slow head');
    } finally {
      clearInterval(trickle);
    }
    const elapsed = Date.now() - t0;
    assert.match(r.text(), /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 450 && elapsed < 7000, `closed after ${elapsed} ms`);
  });

  test('GET /v1/health reports state and counts as JSON', async () => {
    const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
    try {
      await ws.take('connected');
      await cluster.sql('INSERT INTO orders VALUES (1, \'a\')');
      await ws.inbox.take(isEvent());
      const h = await waitFor(async () => {
        const x = await health(RELAY);
        return x.connections.websocket === 1 ? x : null;
      }, { what: 'the WebSocket to be counted' });
      assert.equal(h.status, 'ok');
      const { listeners, connected, reconnects, transport } = h.database;
      assert.deepEqual({ listeners, connected, reconnects, transport }, { listeners: 1, connected: 1, reconnects: 0, transport: TRANSPORT });
      assert.equal(h.connections.max, 4);
      assert.equal(h.connections.sse, 0);
      assert.equal(h.connections.total, 2, 'the WebSocket and this health request');
      assert.ok(h.events.received >= 1 && h.events.deliveries >= 1, JSON.stringify(h.events));
      assert.equal(typeof h.uptime_ms, 'number');
      assert.deepEqual(Object.keys(h.clients), ['accepted', 'refused', 'cut_off', 'over_soft_limit']);
    } finally {
      await ws.close();
    }
  });

  test('over pg_realtime.max_connections (4) a new client gets 503; a freed slot is usable again', async () => {
    await waitFor(async () => (await health(RELAY)).connections.total === 1, { what: 'earlier connections to go' });
    const held = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p`);
        await c.take('connected');
        held.push(c);
      }
      // a client that sends its request at once, as HTTP clients do
      const r = await rawHttp(RELAY, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '5');
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
      assert.equal(JSON.parse(r.body).code, 503);
      await held.pop().close();
      const h = await waitFor(async () => {
        try { return await health(RELAY); } catch { return null; }
      }, { what: 'a free slot' });
      assert.ok(h.clients.refused >= 1);
    } finally {
      for (const c of held) await c.close();
    }
  });
});

describe('idle WebSockets', () => {
  const RELAY = 18707;
  const IDLE = 2000;
  useCluster({ name: 'idle', port: 55447, relayPort: RELAY, conf: [`pg_realtime.idle_timeout = ${IDLE}ms`] });

  // timing: as for the 408 above, no earlier than the timeout, and late by
  // at most what a loaded machine delays a timer
  test('a WebSocket silent for pg_realtime.idle_timeout (2s) is closed with 1001', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p`);
    const t0 = Date.now();
    const { code } = await c.waitClosed(IDLE + 8000, 'the idle timeout');
    const elapsed = Date.now() - t0;
    assert.equal(code, 1001);
    assert.ok(elapsed >= IDLE - 100 && elapsed < IDLE + 7000, `closed after ${elapsed} ms`);
  });

  // timing: one ping every 250 ms keeps it open unless this process stalls
  // for the whole 2 s timeout; the test watches it for three timeouts
  test('a WebSocket that pings (like the SDK) stays open past the idle timeout', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p`);
    const timer = setInterval(() => c.send({ type: 'ping' }), 250);
    try {
      await sleep(3 * IDLE);
      assert.equal(c.ws.readyState, c.ws.OPEN);
      assert.ok(c.inbox.all.filter((m) => m.type === 'pong').length >= 5);
    } finally {
      clearInterval(timer);
      await c.close();
    }
  });

  test('a half-open peer (TCP open, nothing sent after the upgrade) is also closed', async () => {
    const r = await rawWebSocket(RELAY, '/v1/realtime?project=p');
    try {
      const close = await r.frame((f) => f.opcode === OP.CLOSE, IDLE + 8000, 'a close frame');
      assert.equal(closeCode(close), 1001);
      await r.waitEnd(10000, 'the relay to drop the connection that never answers the close (3 s)');
    } finally {
      r.destroy();
    }
  });
});

describe('clients that stop reading: soft limit with a grace, hard limit at once', () => {
  const RELAY = 18708;
  const GRACE = 5000;
  const cluster = useCluster({
    name: 'slow', port: 55448, relayPort: RELAY, setup: (c) => c.sql(TABLE),
    conf: ['pg_realtime.max_client_output = 16MB', 'pg_realtime.client_output_soft_limit = 64kB',
      `pg_realtime.client_output_grace = ${GRACE}ms`],
  });
  // ~10 MB of events: more than the kernel's socket buffers take from the
  // relay for a peer that never reads (up to ~4.3 MB here), so a stalled
  // client's backlog in the relay passes the 64 kB soft limit, and less than
  // the 16 MB hard limit, so only the grace can cut it off
  const N = 1500;
  const ROW = 7000;
  let nextId = 1;
  const insert = (n) => {
    const first = nextId;
    nextId += n;
    return cluster.sql(`INSERT INTO orders SELECT g, repeat('x', ${ROW}) FROM generate_series(${first}, ${first + n - 1}) g`,
      { timeout: 60000 });
  };
  /* Take n events from a WsClient; their ids. */
  const takeIds = async (c, n, what) => {
    const ids = [];
    for (let i = 0; i < n; i++)
      ids.push((await c.inbox.take(isEvent(), 20000, `${what}: event ${i + 1} of ${n}`)).data.payload.id);
    return ids;
  };
  const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);
  /* The worker's log lines that cut off the client on this local port. */
  const cutLines = (port) => cluster.serverLog().split('\n')
    .filter((l) => l.includes(`client 127.0.0.1:${port}:`) && l.includes('disconnected'));
  /* the line saying why port was cut off: it reaches the log file a moment after the count */
  const cutLine = (port, re, what) => waitFor(() => re.test(cutLines(port).join('\n')),
    { timeout: 5000, what: () => `${what}; lines: ${cutLines(port).join(' | ')}` });

  test('stalled WebSocket and SSE clients are cut off after pg_realtime.client_output_grace; a paced reader gets everything', async () => {
    const before = (await health(RELAY)).clients.cut_off;
    const slow = await rawWebSocket(RELAY, '/v1/realtime?project=p&channels[]=documents');
    await slow.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
    const slowSse = await RawSocket.connect(RELAY);
    slowSse.write('GET /v1/realtime?channels[]=documents HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await slowSse.until((b) => b.includes('retry: 1000'), 3000, 'the SSE stream head');
    const reader = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
    await reader.take('connected');
    const ports = [slow.sock.localPort, slowSse.sock.localPort];	/* a closed socket forgets it */
    slow.sock.pause(); // stop reading: the relay's queues for them grow
    slowSse.sock.pause();

    // paced writer: a batch of 50 rows (350 kB, less than the kernel holds
    // for a reader) goes in only once the reader has the one before, so the
    // reader keeps up at any speed of this machine
    const t0 = Date.now();
    const first = nextId;
    for (let b = 0; b < N / 50; b++) {
      await insert(50);
      assert.deepEqual(await takeIds(reader, 50, `batch ${b + 1}`), range(first + 50 * b, 50), 'every event, in commit order');
    }
    // the stalled ones: over the soft limit, cut off once the grace ran out
    // (never before: no backlog existed before t0)
    await waitFor(async () => (await health(RELAY)).clients.cut_off === before + 2,
      { timeout: GRACE + 20000, what: 'the stalled WebSocket and SSE clients to be cut off' });
    assert.ok(Date.now() - t0 >= GRACE, `cut off ${Date.now() - t0} ms after the first byte of backlog`);
    for (const port of ports)
      await cutLine(port, /client_output_soft_limit for longer than pg_realtime.client_output_grace/, 'cut off after the grace');
    const h = await health(RELAY);
    assert.equal(h.connections.websocket, 1, 'only the reader is left');
    assert.equal(h.connections.sse, 0);
    // the relay kept draining notifications: writers never wait for a stalled client
    assert.equal(await cluster.sql('SELECT pg_notification_queue_usage()'), '0');
    slow.sock.resume();
    slowSse.sock.resume();
    await slow.waitEnd(5000, 'the stalled client\'s connection to end');
    await slowSse.waitEnd(5000, 'the stalled SSE stream to end');
    const got = slow.frames().filter((f) => f.opcode === OP.TEXT).length - 1;
    assert.ok(got < N, `the stalled client got ${got} of ${N} events before the cut`);
    await reader.close();
  });

  test('a reader that pauses for less than the grace during a burst survives and gets everything', async () => {
    const before = (await health(RELAY)).clients.cut_off;
    // uncompressed, so that N events pass the soft limit (compressed they
    // are a sixth of it: deflate.test.mjs)
    const reader = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`,
      { perMessageDeflate: false });
    await reader.take('connected');
    // one statement: N events in one burst; the reader sleeps through its
    // start for PAUSE ms.  It must then drain its backlog (at most ~10 MB)
    // below the soft limit within GRACE - PAUSE = 4 s: that is its timing
    // assumption, met at tens of MB/s by any reader here.
    const PAUSE = 1000;
    reader.ws.pause();
    const first = nextId;
    const burst = insert(N);
    await waitFor(async () => (await health(RELAY)).clients.over_soft_limit >= 1,
      { timeout: 20000, what: 'the paused reader to go over the soft limit' });
    await sleep(PAUSE);
    reader.ws.resume();
    await burst;
    assert.deepEqual(await takeIds(reader, N, 'the reader that paused'), range(first, N), 'every event, in commit order');
    const h = await health(RELAY);
    assert.equal(h.clients.cut_off, before, 'nobody was cut off');
    assert.equal(h.clients.over_soft_limit, 0, 'the reader is back under the soft limit');
    assert.equal(reader.ws.readyState, reader.ws.OPEN);
    await reader.close();
  });

  test('over the hard limit (pg_realtime.max_client_output) a client is cut off at once, without the grace', async () => {
    await cluster.reload("ALTER SYSTEM SET pg_realtime.max_client_output = '256kB';");
    try {
      const before = (await health(RELAY)).clients.cut_off;
      const slow = await rawWebSocket(RELAY, '/v1/realtime?project=p&channels[]=documents');
      await slow.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
      const port = slow.sock.localPort;	/* a closed socket forgets it */
      slow.sock.pause();
      await insert(N); // MBs more than the kernel holds: past 256 kB at once
      await waitFor(async () => (await health(RELAY)).clients.cut_off === before + 1,
        { timeout: 20000, what: 'the stalled client to be cut off' });
      await cutLine(port, /output over pg_realtime.max_client_output/,
        'cut off by the hard limit, not after the grace');
      slow.destroy();
    } finally {
      await cluster.reload('ALTER SYSTEM RESET pg_realtime.max_client_output;');
    }
  });

  test('a client that floods pings but never reads the pongs is cut off too', async () => {
    const before = (await health(RELAY)).clients.cut_off;
    const slow = await rawWebSocket(RELAY, '/v1/realtime?project=p');
    await slow.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
    const port = slow.sock.localPort;
    slow.sock.pause();
    // 131-byte pings answered with 127-byte pongs that are never read: past
    // the kernel's ~4.3 MB and the soft limit after ~35,000.  Ping until the
    // relay hangs up (bounded: 200,000 pings or 60 s).
    const big = Buffer.alloc(125, 'p');
    const t0 = Date.now();
    let sent = 0;
    while (sent < 200000 && Date.now() - t0 < 60000 && !slow.sock.destroyed && !slow.closed) {
      if (!slow.sock.write(wsFrame(OP.PING, big)))
        await Promise.race([new Promise((r) => slow.sock.once('drain', r)), slow.ended, sleep(200)]);
      sent++;
      if (sent % 2000 === 0 && (await health(RELAY)).clients.cut_off > before)
        break;
    }
    await waitFor(async () => (await health(RELAY)).clients.cut_off === before + 1,
      { timeout: GRACE + 20000, what: `the ping flooder to be cut off (sent ${sent} pings)` });
    await cutLine(port, /output over/, `the relay cut off this very client (after ${sent} pings)`);
    slow.destroy();
  });
});
