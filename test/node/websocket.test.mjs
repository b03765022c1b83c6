// websocket.test.mjs - the WebSocket side with a second real client library (`ws`)
//
// RFC 6455 framing (fragments, masking, ping/pong, close handshake, UTF-8,
// size limit) and the Appwrite messages (PROTOCOL.md sections 1-3), on a
// relay that expects project "demo" and browsers from http://app.example.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useCluster } from './lib/cluster.mjs';
import { OP, WsClient, closeCode, expectedChannels, isEvent, rawWebSocket, wsFrame } from './lib/clients.mjs';

const RELAY = 18703;
const cluster = useCluster({
  name: 'ws', port: 55443, relayPort: RELAY,
  conf: ["pg_realtime.project = 'demo'", "pg_realtime.allowed_origins = 'http://app.example, https://app.example'"],
  setup: (c) => c.sql(`
    CREATE TABLE orders (id text PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
});

const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`;

/* Open a `ws` connection and take its "connected" message. */
async function connect(url = URL, opts) {
  const c = await WsClient.open(url, opts);
  c.connected = await c.take('connected');
  return c;
}

describe('messages (PROTOCOL.md 2-3)', () => {
  test('"connected" lists URL channels in every spelling and the server-made id of their slot', async () => {
    const c = await connect(`${URL}&channels[]=documents&channels%5B%5D=rows` +
      '&channels[2]=databases.postgres.collections.orders.documents');
    try {
      const { channels, subscriptions, user } = c.connected.data;
      assert.deepEqual(channels, ['documents', 'rows', 'databases.postgres.collections.orders.documents']);
      // plain channels[] parameters all belong to URL slot 0: one subscription
      assert.equal(subscriptions.length, 1, 'one subscription id per URL slot');
      assert.match(subscriptions[0], /^[a-zA-Z0-9._-]{1,36}$/);
      assert.equal(user, null);

      await cluster.sql(`INSERT INTO orders VALUES ('w-1', 'new')`);
      const e = await c.inbox.take(isEvent());
      assert.deepEqual(Object.keys(e.data).sort(), ['channels', 'events', 'payload', 'subscriptions', 'timestamp']);
      assert.deepEqual(e.data.channels, expectedChannels('postgres', 'orders', 'w-1', 'create'));
      assert.deepEqual(e.data.subscriptions, subscriptions, 'the slot\'s subscription, named once');
      assert.equal(e.data.payload.$id, 'w-1');
    } finally {
      await c.close();
    }
  });

  test('with no URL channels "connected" has empty lists (message mode)', async () => {
    const c = await connect();
    assert.deepEqual(c.connected, { type: 'connected', data: { channels: [], subscriptions: [], user: null } });
    await c.close();
  });

  test('subscribe is acknowledged with the subscription; a missing id is made by the server', async () => {
    const c = await connect();
    try {
      const ack = await c.subscribe([
        { subscriptionId: 'mine-1', channels: ['documents'], queries: [] },
        { channels: ['rows'] },
      ]);
      assert.equal(ack.success, true);
      assert.equal(ack.subscriptions.length, 2);
      assert.deepEqual(ack.subscriptions[0], { subscriptionId: 'mine-1', channels: ['documents'], queries: [] });
      assert.match(ack.subscriptions[1].subscriptionId, /^[a-zA-Z0-9._-]{1,36}$/);
      assert.deepEqual(ack.subscriptions[1].channels, ['rows']);

      await cluster.sql(`INSERT INTO orders VALUES ('w-2', 'new')`);
      const e = await c.inbox.take(isEvent());
      assert.deepEqual([...e.data.subscriptions].sort(), ['mine-1', ack.subscriptions[1].subscriptionId].sort());
    } finally {
      await c.close();
    }
  });

  test('re-sending a subscription id replaces its channels', async () => {
    const c = await connect();
    try {
      await c.subscribe([{ subscriptionId: 's', channels: ['databases.postgres.collections.nothing.documents'] }]);
      await c.subscribe([{ subscriptionId: 's', channels: ['documents.update'] }]);
      await cluster.sql(`INSERT INTO orders VALUES ('w-3', 'new'); UPDATE orders SET status = 'x' WHERE id = 'w-3';`);
      const e = await c.inbox.take(isEvent());
      assert.ok(e.data.channels.includes('documents.update'));
      assert.deepEqual(e.data.subscriptions, ['s']);
      await c.inbox.none(isEvent(), 200, 'a second event');
    } finally {
      await c.close();
    }
  });

  test('unsubscribe answers removed per id and stops delivery; unknown ids are no error', async () => {
    const c = await connect();
    try {
      await c.subscribe([{ subscriptionId: 'a', channels: ['documents'] }, { subscriptionId: 'b', channels: ['documents'] }]);
      c.send({ type: 'unsubscribe', data: [{ subscriptionId: 'a' }, { subscriptionId: 'never-made' }] });
      const r = await c.take('response', (m) => m.data.to === 'unsubscribe');
      assert.equal(r.data.success, true);
      assert.deepEqual(r.data.subscriptions[0], { subscriptionId: 'a', removed: true });
      assert.equal(r.data.subscriptions[1].subscriptionId, 'never-made');
      await cluster.sql(`INSERT INTO orders VALUES ('w-4', 'new')`);
      const e = await c.inbox.take(isEvent());
      assert.deepEqual(e.data.subscriptions, ['b']);
      assert.equal((await c.inbox.take((m) => m.type === 'error', 100).catch(() => null)), null, 'no error message');
    } finally {
      await c.close();
    }
  });

  test('ping is answered with {"type":"pong"} and nothing else', async () => {
    const c = await connect();
    c.send({ type: 'ping' });
    const pong = await c.take('pong');
    assert.deepEqual(pong, { type: 'pong' });
    assert.equal(c.raw.at(-1).toString(), '{"type":"pong"}');
    await c.close();
  });

  test('unknown type, invalid JSON, binary messages and invalid subscribe get error 1003 without a close', async () => {
    const c = await connect();
    try {
      c.send({ type: 'dance', data: {} });
      const unknown = await c.take('error');
      assert.equal(unknown.data.code, 1003);
      assert.match(unknown.data.message, /dance/);

      c.send('{"type": "ping"');
      assert.equal((await c.take('error')).data.code, 1003);

      c.send(Buffer.from('{"type":"ping"}'), { binary: true });
      assert.equal((await c.take('error')).data.code, 1003);

      c.send({ type: 'subscribe', data: [{ subscriptionId: 'x' }] });
      const missing = await c.take('error');
      assert.deepEqual([missing.data.code, missing.data.message], [1003, 'channels is not present in payload.']);

      c.send({ type: 'subscribe', data: [{ channels: ['documents'], queries: ['{"method":"nonsense"}'] }] });
      assert.equal((await c.take('error')).data.code, 1003);

      c.send({ type: 'ping' });
      await c.take('pong');
      assert.equal(c.ws.readyState, c.ws.OPEN, 'still connected');
    } finally {
      await c.close();
    }
  });

  test('authentication gets error 1003 (not supported yet) and the connection stays a guest', async () => {
    const c = await connect();
    try {
      c.send({ type: 'authentication', data: { session: 'abc' } });
      const err = await c.take('error');
      assert.equal(err.data.code, 1003);
      await c.subscribe([{ channels: ['documents'] }]);
      await cluster.sql(`INSERT INTO orders VALUES ('w-5', 'new')`);
      assert.equal((await c.inbox.take(isEvent())).data.payload.$id, 'w-5');
    } finally {
      await c.close();
    }
  });
});

describe('project and origin policy (error 1008, then close 1008)', () => {
  test('a project other than pg_realtime.project is refused', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=other`);
    const err = await c.take('error');
    assert.equal(err.data.code, 1008);
    const { code } = await c.waitClosed();
    assert.equal(code, 1008);
    assert.equal(c.inbox.all.some((m) => m.type === 'connected'), false, 'no "connected" before the refusal');
  });

  test('a missing project is refused when one is configured', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime`);
    assert.equal((await c.take('error')).data.code, 1008);
    assert.equal((await c.waitClosed()).code, 1008);
  });

  test('an Origin outside pg_realtime.allowed_origins is refused', async () => {
    const c = await WsClient.open(URL, { headers: { Origin: 'http://evil.example' } });
    assert.equal((await c.take('error')).data.code, 1008);
    assert.equal((await c.waitClosed()).code, 1008);
  });

  test('an allowed Origin and no Origin at all (native clients) are accepted', async () => {
    for (const headers of [{ Origin: 'https://app.example' }, {}]) {
      const c = await connect(URL, { headers });
      c.send({ type: 'ping' });
      await c.take('pong');
      await c.close();
    }
  });
});

describe('RFC 6455 framing', () => {
  test('a text message sent in fragments (with a ping between them) is one message', async () => {
    const c = await connect();
    try {
      const msg = JSON.stringify({ type: 'subscribe', data: [{ subscriptionId: 'frag', channels: ['documents'] }] });
      c.ws.send(msg.slice(0, 10), { fin: false });
      c.ws.ping('mid');
      c.ws.send(msg.slice(10, 30), { fin: false });
      c.ws.send(msg.slice(30), { fin: true });
      assert.equal(await c.pongs.take(), 'mid', 'control frame inside a fragmented message answered');
      const ack = await c.take('response');
      assert.equal(ack.data.subscriptions[0].subscriptionId, 'frag');
    } finally {
      await c.close();
    }
  });

  test('a WebSocket ping frame gets a pong with the same payload', async () => {
    const c = await connect();
    c.ws.ping('are you there?');
    assert.equal(await c.pongs.take(), 'are you there?');
    await c.close();
  });

  test('close handshake: the relay echoes the client\'s close code', async () => {
    const c = await connect();
    c.ws.close(4001, 'bye');
    const { code } = await c.waitClosed();
    assert.equal(code, 4001);
  });

  test('masked client frames are accepted; an unmasked one closes with 1002', async () => {
    const c = await connect();
    c.send({ type: 'ping' });
    await c.take('pong');
    c.ws.send('{"type":"ping"}', { mask: false });
    assert.equal((await c.waitClosed()).code, 1002);
  });

  test('an unmasked frame by hand (raw socket) is refused with close frame 1002', async () => {
    const r = await rawWebSocket(RELAY, '/v1/realtime?project=demo');
    try {
      await r.frame((f) => f.opcode === OP.TEXT, 3000, 'the connected message');
      r.write(wsFrame(OP.TEXT, '{"type":"ping"}', { mask: false }));
      const close = await r.frame((f) => f.opcode === OP.CLOSE, 3000, 'a close frame');
      assert.equal(closeCode(close), 1002);
      assert.equal(r.frames().filter((f) => f.opcode === OP.TEXT).length, 1, 'the unmasked ping was not answered');
    } finally {
      r.destroy();
    }
  });

  test('a text message that is not valid UTF-8 closes with 1007', async () => {
    const c = await connect();
    c.ws.send(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
    assert.equal((await c.waitClosed()).code, 1007);
  });

  test('a message of exactly 64000 bytes is accepted; 64001 bytes closes with 1009', async () => {
    const c = await connect();
    const ping = '{"type":"ping"}';
    c.send(ping + ' '.repeat(64000 - ping.length));
    await c.take('pong');
    c.send(ping + ' '.repeat(64001 - ping.length));
    assert.equal((await c.waitClosed()).code, 1009);
  });

  test('fragments adding up to more than 64000 bytes close with 1009', async () => {
    const c = await connect();
    c.ws.send('x'.repeat(40000), { fin: false });
    c.ws.send('x'.repeat(40000), { fin: true });
    assert.equal((await c.waitClosed()).code, 1009);
  });
});
