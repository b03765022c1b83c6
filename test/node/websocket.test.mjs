// websocket.test.mjs - the Appwrite realtime messages with a second real client library (`ws`)
//
// connected, subscribe, unsubscribe, ping and the errors (PROTOCOL.md
// sections 1-3), which events a guest gets and when (section 6), fan-out,
// and the project and Origin policy of a relay that expects project "demo"
// and browsers from http://app.example.  RFC 6455 framing: framing.test.mjs.
// Timing: every wait is for a message, with a deadline; an event that must
// not arrive is checked against a later one in commit order, or with a
// short look for a duplicate; bursts stay far below the output limits.
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { WsClient, connectWs, expectedChannels, isEvent } from './lib/clients.mjs';
import { test, useCluster } from './lib/cluster.mjs';
import { Client, Realtime, sockets } from './lib/sdk.mjs';
import { sleep, waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18703;
const cluster = useCluster({
  name: 'ws', port: 55443, relayPort: RELAY,
  conf: ["pg_realtime.project = 'demo'", "pg_realtime.allowed_origins = 'http://app.example, https://app.example'"],
  setup: (c) => c.sql(`
    CREATE TABLE orders (id text PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);
    CREATE TABLE members_only (id text PRIMARY KEY);
    SELECT realtime.track('public.members_only', read => ARRAY['users']);
    CREATE TABLE guestbook (id text PRIMARY KEY);
    SELECT realtime.track('public.guestbook', read => ARRAY['guests']);
    CREATE TABLE notes (id text PRIMARY KEY, perms text[]);
    SELECT realtime.track('public.notes', permissions_column => 'perms');`),
});

const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`;

const connect = (url = URL, opts) => connectWs(url, opts);

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
      assert.deepEqual(Object.keys(e.data).sort(), ['channels', 'events', 'payload', 'position', 'subscriptions', 'timestamp']);
      assert.deepEqual(e.data.channels, expectedChannels('postgres', 'orders', 'w-1', 'create'));
      assert.deepEqual(e.data.subscriptions, subscriptions, 'the slot\'s subscription, named once');
      assert.equal(e.data.payload.$id, 'w-1');
    } finally {
      await c.close();
    }
  });

  test('SDK v23/v24 URL queries (<channel>[<slot>][]=<query>) make one subscription per slot', async () => {
    const q = (status) => encodeURIComponent(JSON.stringify({ method: 'equal', attribute: 'status', values: [status] }));
    const c = await connect(`${URL}&channels[]=documents&documents[0][]=${q('paid')}&documents[1][]=${q('void')}`);
    try {
      const { subscriptions } = c.connected.data;
      assert.equal(subscriptions.length, 2, 'slots 0 and 1');
      await cluster.sql(`INSERT INTO orders VALUES ('v-1', 'new'); INSERT INTO orders VALUES ('v-2', 'void');
        INSERT INTO orders VALUES ('v-3', 'paid');`);
      const a = await c.inbox.take(isEvent());
      const b = await c.inbox.take(isEvent());
      assert.deepEqual([a.data.payload.$id, a.data.subscriptions], ['v-2', [subscriptions[1]]]);
      assert.deepEqual([b.data.payload.$id, b.data.subscriptions], ['v-3', [subscriptions[0]]]);
      await c.inbox.none(isEvent(), 200, 'the event no slot\'s query matches');
    } finally {
      await c.close();
    }
  });

  test('text survives the trip: quotes, backslashes, newlines, accents and emoji', async () => {
    const c = await connect(`${URL}&channels[]=documents`);
    try {
      const text = 'h\u00e9llo \u{1F30D} "quoted" \\ back\nslash\ttab \u2028 end';
      await cluster.sql(`INSERT INTO orders VALUES ('t-1', $txt$${text}$txt$)`); // dollar quoting: no escapes
      const e = await c.inbox.take(isEvent());
      assert.equal(e.data.payload.status, text);
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

  test('subscription ids must match [a-zA-Z0-9._-]{1,36}; others get error 1003', async () => {
    const c = await connect();
    try {
      const ok = await c.subscribe([{ subscriptionId: 'A-z_0.9'.padEnd(36, 'x'), channels: ['documents'] }]);
      assert.equal(ok.subscriptions[0].subscriptionId.length, 36);
      for (const bad of ['x'.repeat(37), 'has space', 'slash/', '']) {
        c.send({ type: 'subscribe', data: [{ subscriptionId: bad, channels: ['documents'] }] });
        const err = await c.take('error', () => true, 3000);
        assert.equal(err.data.code, 1003, `subscriptionId ${JSON.stringify(bad)}`);
      }
    } finally {
      await c.close();
    }
  });

  test('a URL channel that is not valid percent-encoded UTF-8 is refused with 1008', async () => {
    const c = await WsClient.open(`${URL}&channels[]=%FF%FE`);
    assert.equal((await c.take('error')).data.code, 1008);
    assert.equal((await c.waitClosed()).code, 1008);
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

  test('an invalid jwt in the URL gets "connected" (user null) first, then error 1003 saying why; the connection stays open', async () => {
    const c = await WsClient.open(`${URL}&jwt=eyJhbGciOi.x.y&channels[]=documents`);
    try {
      const first = await c.inbox.take(() => true, 3000, 'the first message');
      assert.equal(first.type, 'connected');
      assert.equal(first.data.user, null);
      const err = await c.take('error');
      assert.equal(err.data.code, 1003);
      assert.match(err.data.message, /^Session is not valid: the token's header is not base64url-encoded JSON\.$/);
      c.send({ type: 'ping' });
      await c.take('pong');
    } finally {
      await c.close();
    }
  });

  test('authentication with an invalid session gets error 1003 and the connection stays a guest (auth.test.mjs: valid ones)', async () => {
    const c = await connect();
    try {
      c.send({ type: 'authentication', data: { session: 'abc' } });
      const err = await c.take('error');
      assert.equal(err.data.code, 1003);
      assert.match(err.data.message, /^Session is not valid: /);
      await c.subscribe([{ channels: ['documents'] }]);
      await cluster.sql(`INSERT INTO orders VALUES ('w-5', 'new')`);
      assert.equal((await c.inbox.take(isEvent())).data.payload.$id, 'w-5');
    } finally {
      await c.close();
    }
  });
});

describe('fan-out', () => {
  test('100 WebSockets each get all 200 events of a burst, in commit order', async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => connect(`${URL}&channels[]=documents`)));
    try {
      await cluster.sql(`INSERT INTO orders SELECT 'f-' || g, 'burst' FROM generate_series(1, 200) g`);
      const want = Array.from({ length: 200 }, (_, i) => `f-${i + 1}`);
      await Promise.all(clients.map(async (c, n) => {
        const ids = [];
        for (let i = 0; i < 200; i++) ids.push((await c.inbox.take(isEvent(), 10000, `event ${i + 1} on client ${n}`)).data.payload.$id);
        assert.deepEqual(ids, want);
      }));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
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

  test('the SDK, refused with 1008, does not reconnect', async () => {
    const rt = new Realtime(new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('wrong'));
    const errors = [];
    rt.onError((e, code) => errors.push(code));
    const before = sockets.length;
    await withTimeout(rt.subscribe('documents', () => {}), 5000, 'the SDK socket to open');
    const socket = sockets.at(-1);
    await waitFor(() => socket.closeEvent, { timeout: 3000, what: 'the refusal' });
    assert.equal(socket.closeEvent.code, 1008);
    assert.deepEqual(errors, [1008]);
    await sleep(1500); // the SDK would retry after 1 s (a late retry on a loaded machine passes unseen, never fails)
    assert.equal(sockets.length, before + 1, 'no second socket');
    await rt.disconnect();
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

describe('which events a guest gets, and when (PROTOCOL.md 6)', () => {
  test('a guest gets events readable by "any" or "guests", never by "users" or one user; write() grants no read', async () => {
    const c = await connect(`${URL}&channels[]=documents`);
    try {
      await cluster.sql(`
        INSERT INTO members_only VALUES ('hidden-1');
        INSERT INTO notes VALUES ('hidden-2', '{"read(\\"user:u1\\")"}');
        INSERT INTO notes VALUES ('hidden-3', '{"write(\\"any\\")", "update(\\"any\\")"}');
        INSERT INTO notes VALUES ('hidden-4', NULL);
        INSERT INTO guestbook VALUES ('shown-1');
        INSERT INTO notes VALUES ('shown-2', '{"read(\\"any\\")", "write(\\"user:u1\\")"}');
        INSERT INTO notes VALUES ('shown-3', '{"read(\\"guests\\")"}');
        INSERT INTO orders VALUES ('marker', 'last');`);
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await c.inbox.take(isEvent(), 5000, `visible event ${i + 1}`)).data.payload.$id);
      // events keep commit order, so anything hidden would have come before the marker
      assert.deepEqual(ids, ['shown-1', 'shown-2', 'shown-3', 'marker']);
      const note = c.inbox.all.find((m) => m.data?.payload?.$id === 'shown-2');
      assert.deepEqual(note.data.payload.$permissions, ['read("any")', 'write("user:u1")']);
    } finally {
      await c.close();
    }
  });

  test('only committed changes are sent: rolled-back transactions and savepoints send nothing', async () => {
    const c = await connect(`${URL}&channels[]=documents`);
    try {
      await cluster.sql(`
        BEGIN; INSERT INTO orders VALUES ('rb-1', 'gone'); ROLLBACK;
        BEGIN; INSERT INTO orders VALUES ('rb-2', 'kept');
          SAVEPOINT s; INSERT INTO orders VALUES ('rb-3', 'gone'); ROLLBACK TO SAVEPOINT s;
        COMMIT;`);
      const e = await c.inbox.take(isEvent());
      assert.equal(e.data.payload.$id, 'rb-2');
      await c.inbox.none(isEvent(), 200, 'an event of a rolled-back change');
    } finally {
      await c.close();
    }
  });

  test('two identical changes in one transaction are two events (NOTIFY would fold them)', async () => {
    const c = await connect(`${URL}&channels[]=documents.update`);
    try {
      await cluster.sql(`INSERT INTO orders VALUES ('dup', 'a');
        BEGIN; UPDATE orders SET status = 'b' WHERE id = 'dup'; UPDATE orders SET status = 'b' WHERE id = 'dup'; COMMIT;`);
      const a = await c.inbox.take(isEvent());
      const b = await c.inbox.take(isEvent());
      assert.deepEqual([a.data.payload.status, b.data.payload.status], ['b', 'b']);
    } finally {
      await c.close();
    }
  });

  test('four concurrent writers: every committed row arrives exactly once', async () => {
    const c = await connect(`${URL}&channels[]=documents`);
    try {
      await Promise.all([0, 1, 2, 3].map((w) => cluster.sql(Array.from({ length: 100 },
        (_, i) => `INSERT INTO orders VALUES ('cw-${w}-${i}', 'w');`).join('\n'))));
      const ids = new Set();
      for (let i = 0; i < 400; i++) ids.add((await c.inbox.take(isEvent(), 5000, `event ${i + 1} of 400`)).data.payload.$id);
      assert.equal(ids.size, 400);
      await c.inbox.none(isEvent(), 200, 'a duplicate');
    } finally {
      await c.close();
    }
  });

  test('a subscription beyond pg_realtime.max_subscriptions (100) gets error 1013, the others stay', async () => {
    const c = await connect();
    try {
      const rows = Array.from({ length: 100 }, (_, i) => ({ subscriptionId: `s${i}`, channels: ['documents'] }));
      const ack = await c.subscribe(rows);
      assert.equal(ack.subscriptions.length, 100);
      c.send({ type: 'subscribe', data: [{ subscriptionId: 'one-too-many', channels: ['documents'] }] });
      const err = await c.take('error');
      assert.equal(err.data.code, 1013);
      await cluster.sql(`INSERT INTO orders VALUES ('w-many', 'new')`);
      const e = await c.inbox.take(isEvent());
      assert.equal(e.data.subscriptions.length, 100);
      assert.ok(!e.data.subscriptions.includes('one-too-many'));
    } finally {
      await c.close();
    }
  });
});

describe('reload (SIGHUP)', () => {
  test('a changed pg_realtime.project applies to new connections after pg_reload_conf()', async () => {
    const before = await connect();
    await cluster.reload("ALTER SYSTEM SET pg_realtime.project = 'renamed';");
    const old = await WsClient.open(URL);
    assert.equal((await old.take('error')).data.code, 1008);
    assert.equal((await old.waitClosed()).code, 1008);
    const renamed = await connect(`ws://127.0.0.1:${RELAY}/v1/realtime?project=renamed`);
    await renamed.close();
    before.send({ type: 'ping' });
    await before.take('pong');
    await before.close();
  });
});
