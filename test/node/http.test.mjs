// http.test.mjs - bad and slow clients get the protocol's answer; nobody else waits
//
// Raw TCP sockets speak broken HTTP, never finish their request head, open
// too many connections, stay silent, or stop reading; each gets an HTTP
// status or a close code, and a well-behaved client next to them keeps
// receiving everything.  Each group has a cluster with low limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TRANSPORT, health, useCluster } from './lib/cluster.mjs';
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

  test('slowloris: a head still trickling in after pg_realtime.handshake_timeout (500ms) gets 408', async () => {
    const r = await RawSocket.connect(RELAY);
    const t0 = Date.now();
    r.write('GET /v1/realtime?project=x HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => { if (!r.sock.destroyed) r.write('X'); }, 100);
    try {
      await r.waitEnd(3000, 'the relay to give up on the slow head');
    } finally {
      clearInterval(trickle);
    }
    const elapsed = Date.now() - t0;
    assert.match(r.text(), /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 450 && elapsed < 2500, `closed after ${elapsed} ms`);
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
      assert.deepEqual(Object.keys(h.clients), ['accepted', 'refused', 'cut_off']);
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
  useCluster({ name: 'idle', port: 55447, relayPort: RELAY, conf: ['pg_realtime.idle_timeout = 1000ms'] });

  test('a WebSocket silent for pg_realtime.idle_timeout (1s) is closed with 1001', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p`);
    const t0 = Date.now();
    const { code } = await c.waitClosed(4000, 'the idle timeout');
    const elapsed = Date.now() - t0;
    assert.equal(code, 1001);
    assert.ok(elapsed >= 900 && elapsed < 3500, `closed after ${elapsed} ms`);
  });

  test('a WebSocket that pings (like the SDK) stays open past the idle timeout', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p`);
    const timer = setInterval(() => c.send({ type: 'ping' }), 300);
    try {
      await sleep(2500);
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
      const close = await r.frame((f) => f.opcode === OP.CLOSE, 4000, 'a close frame');
      assert.equal(closeCode(close), 1001);
      await r.waitEnd(4000, 'the relay to drop the connection that never answers the close');
    } finally {
      r.destroy();
    }
  });
});

describe('clients that stop reading', () => {
  const RELAY = 18708;
  const cluster = useCluster({
    name: 'slow', port: 55448, relayPort: RELAY, setup: (c) => c.sql(TABLE),
    conf: ['pg_realtime.max_client_output = 64kB'],
  });

  test('clients that stop reading (WebSocket, SSE) are cut off past pg_realtime.max_client_output; a reading one gets everything', async () => {
    const N = 1500; // ~7 kB events: ~10 MB, more than the kernel buffers a stalled peer
    const slow = await rawWebSocket(RELAY, '/v1/realtime?project=p&channels[]=documents');
    await slow.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
    const slowSse = await RawSocket.connect(RELAY);
    slowSse.write('GET /v1/realtime?channels[]=documents HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await slowSse.until((b) => b.includes('retry: 1000'), 3000, 'the SSE stream head');
    const reader = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
    await reader.take('connected');
    slow.sock.pause(); // stop reading: the relay's queues for them grow
    slowSse.sock.pause();

    // one transaction per row: a steady stream a reading client keeps up with
    // (one 10 MB burst would overflow any reader's 64 kB allowance)
    const t0 = Date.now();
    await cluster.sql(Array.from({ length: N }, (_, i) => `INSERT INTO orders VALUES (${i + 1}, repeat('x', 7000));`)
      .join('\n'), { timeout: 60000 });
    const ids = [];
    for (let i = 0; i < N; i++)
      ids.push((await reader.inbox.take(isEvent(), 20000, `event ${i + 1} of ${N}`)).data.payload.id);
    const elapsed = Date.now() - t0;
    assert.deepEqual(ids, Array.from({ length: N }, (_, i) => i + 1), 'every event, in commit order');

    const h = await health(RELAY);
    assert.equal(h.clients.cut_off, 2, 'the stalled WebSocket and SSE clients were cut off');
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
    assert.ok(elapsed < 20000, `delivery to the reader took ${elapsed} ms`);
    await reader.close();
  });

  test('a client that floods pings but never reads the pongs is cut off too', async () => {
    const slow = await rawWebSocket(RELAY, '/v1/realtime?project=p');
    await slow.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
    slow.sock.pause();
    // ~60 kB pings answered with ~60 kB pongs that are never read
    const big = Buffer.alloc(125, 'p');
    for (let i = 0; i < 40000 && !slow.sock.destroyed; i++) {
      if (!slow.sock.write(wsFrame(OP.PING, big)))
        await Promise.race([new Promise((r) => slow.sock.once('drain', r)), sleep(200)]);
      if (i % 500 === 0 && (await health(RELAY)).clients.cut_off >= 3)
        break;
    }
    const h = await health(RELAY);
    assert.equal(h.clients.cut_off, 3);
    slow.destroy();
  });
});
