// sdk.test.mjs - the unmodified appwrite Web SDK (v27) against the relay worker
//
// A user subscribes with the SDK's Realtime service and Channel builders;
// rows changed with psql arrive as Appwrite document events.  Timing: every
// wait is for a callback or an acknowledgement, with a deadline; an event
// that must not arrive is checked after later ones in commit order, or with
// a short look.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';

import { test, useCluster } from './lib/cluster.mjs';
import { expectedChannels, expectedEvents } from './lib/clients.mjs';
import { Channel, Client, Query, Realtime, sockets, subscribeAndWait as subscribe } from './lib/sdk.mjs';
import { Inbox, waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18700;
const cluster = useCluster({
  name: 'sdk', port: 55440, relayPort: RELAY,
  setup: (c) => c.sql(`
    CREATE TABLE orders (id text PRIMARY KEY, status text, amount int, note text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  // the SDK reconnects forever: stop every Realtime and legacy client first
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
    for (const client of legacyClients) {
      client.realtime.subscriptions.clear();
      client.realtime.reconnect = false;
      client.realtime.socket?.close();
      clearInterval(client.realtime.heartbeat); // the legacy API never clears its ping timer
      clearTimeout(client.realtime.timeout);
    }
  },
});
const realtimes = [];
const legacyClients = [];

/* A Realtime service on a fresh Client pointed at the relay. */
function newRealtime() {
  const client = new Client().setEndpoint(`http://127.0.0.1:${RELAY}/v1`)
    .setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('demo');
  return new Realtime(client);
}

describe('Realtime service and Channel builders', () => {
  let rt;
  before(() => { rt = newRealtime(); realtimes.push(rt); });

  test('the relay greets the SDK with "connected" and an object data (SDK v26+ needs it)', async () => {
    const { sub } = await subscribe(rt, 'documents');
    const socket = rt.socket;
    const connected = socket.inbox.all.find((m) => m.type === 'connected');
    assert.deepEqual(connected, { type: 'connected', data: { channels: [], subscriptions: [], user: null } });
    assert.equal(socket.inbox.all[0].type, 'connected', 'connected comes before anything else');
    assert.match(socket.url_, /^ws:\/\/127\.0\.0\.1:18700\/v1\/realtime\?project=demo$/);
    await sub.unsubscribe();
    await socket.inbox.take((m) => m.type === 'response' && m.data?.to === 'unsubscribe', 5000, 'the unsubscribe ack');
  });

  test('create, update and delete of a row arrive with all 42 event names, 16 channels and the row', async () => {
    const { sub, events } = await subscribe(rt, Channel.database('postgres').collection('orders').document());
    const subId = [...rt.activeSubscriptions.keys()].at(-1);

    await cluster.sql(`INSERT INTO orders VALUES ('o-1', 'new', 120, 'first')`);
    const created = await events.take(() => true, 5000, 'the create event');
    assert.deepEqual(created.events, expectedEvents('postgres', 'orders', 'o-1', 'create'));
    assert.deepEqual(created.channels, expectedChannels('postgres', 'orders', 'o-1', 'create'));
    assert.deepEqual(created.subscriptions, [subId]);
    assert.match(created.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    assert.deepEqual(Object.keys(created.payload),
      ['$id', '$collectionId', '$databaseId', '$createdAt', '$updatedAt', '$permissions', 'id', 'status', 'amount', 'note']);
    assert.equal(created.payload.$id, 'o-1');
    assert.equal(created.payload.$collectionId, 'orders');
    assert.equal(created.payload.$databaseId, 'postgres');
    assert.deepEqual(created.payload.$permissions, []);
    assert.deepEqual([created.payload.status, created.payload.amount, created.payload.note], ['new', 120, 'first']);

    await cluster.sql(`UPDATE orders SET status = 'paid' WHERE id = 'o-1'`);
    const updated = await events.take(() => true, 5000, 'the update event');
    assert.deepEqual(updated.events, expectedEvents('postgres', 'orders', 'o-1', 'update'));
    assert.deepEqual(updated.channels, expectedChannels('postgres', 'orders', 'o-1', 'update'));
    assert.equal(updated.payload.status, 'paid');
    assert.equal(updated.payload.amount, 120);

    await cluster.sql(`DELETE FROM orders WHERE id = 'o-1'`);
    const deleted = await events.take(() => true, 5000, 'the delete event');
    assert.deepEqual(deleted.events, expectedEvents('postgres', 'orders', 'o-1', 'delete'));
    assert.deepEqual(deleted.channels, expectedChannels('postgres', 'orders', 'o-1', 'delete'));
    assert.equal(deleted.payload.status, 'paid', 'a delete event carries the deleted row');
    await events.none(() => true, 200, 'a fourth event');
    await sub.unsubscribe();
  });

  test('an action channel (.document().create()) gets only that action', async () => {
    const { events } = await subscribe(rt, Channel.database('postgres').collection('orders').document().create());
    assert.equal(String(Channel.database('postgres').collection('orders').document().create()),
      'databases.postgres.collections.orders.documents.create');
    await cluster.sql(`
      INSERT INTO orders VALUES ('o-2', 'new', 5, NULL);
      UPDATE orders SET status = 'paid' WHERE id = 'o-2';
      DELETE FROM orders WHERE id = 'o-2';
      INSERT INTO orders VALUES ('o-3', 'new', 6, NULL);`);
    const a = await events.take();
    const b = await events.take();
    assert.deepEqual([a.payload.$id, b.payload.$id], ['o-2', 'o-3']);
    assert.ok(a.events.includes('databases.*.collections.*.documents.*.create'));
    await events.none(() => true, 300, 'an update or delete event');
  });

  test('a document channel (.document(id)) gets only that document', async () => {
    const { events } = await subscribe(rt, Channel.database('postgres').collection('orders').document('o-4'));
    await cluster.sql(`
      INSERT INTO orders VALUES ('o-5', 'new', 1, NULL);
      INSERT INTO orders VALUES ('o-4', 'new', 2, NULL);
      UPDATE orders SET amount = 3;`);
    const a = await events.take();
    const b = await events.take();
    assert.deepEqual([a.payload.$id, a.events.at(0)], ['o-4', 'databases.postgres.collections.orders.documents.o-4.create']);
    assert.deepEqual([b.payload.$id, b.payload.amount], ['o-4', 3]);
    await events.none(() => true, 300, 'an event of another document');
  });

  test('the tables/rows spellings (Channel.tablesdb(...).table(...).row()) match too', async () => {
    const { events } = await subscribe(rt, [Channel.tablesdb('postgres').table('orders').row(), Channel.rows()]);
    await cluster.sql(`INSERT INTO orders VALUES ('o-6', 'new', 1, NULL)`);
    const e = await events.take();
    assert.equal(e.payload.$id, 'o-6');
    await events.none(() => true, 200, 'a second copy of the event');
  });
});

describe('the README example', () => {
  test('setEndpoint(http://…/v1) alone is enough: the SDK derives ws://…/v1/realtime', async () => {
    const client = new Client().setEndpoint(`http://127.0.0.1:${RELAY}/v1`).setProject('demo');
    const rt = new Realtime(client);
    realtimes.push(rt);
    const { events } = await subscribe(rt, Channel.database('postgres').collection('orders').document());
    assert.equal(rt.socket.url_, `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`);
    await cluster.sql(`INSERT INTO orders VALUES ('readme', 'new', 1, NULL)`);
    assert.equal((await events.take()).payload.$id, 'readme');
    await rt.disconnect();
  });
});

describe('queries', () => {
  let rt;
  before(() => { rt = newRealtime(); realtimes.push(rt); });

  test('Query.equal and Query.greaterThan filter events on the row\'s columns', async () => {
    const channel = Channel.database('postgres').collection('orders').document();
    const paid = await subscribe(rt, channel, [Query.equal('status', ['paid'])]);
    const big = await subscribe(rt, channel, [Query.greaterThan('amount', 100), Query.notEqual('status', 'void')]);
    await cluster.sql(`
      INSERT INTO orders VALUES ('q-1', 'new', 10, NULL);
      INSERT INTO orders VALUES ('q-2', 'paid', 10, NULL);
      INSERT INTO orders VALUES ('q-3', 'new', 500, NULL);
      INSERT INTO orders VALUES ('q-4', 'void', 900, NULL);
      INSERT INTO orders VALUES ('q-5', 'paid', 101, NULL);`);
    const got = async (s, n) => {
      const ids = [];
      for (let i = 0; i < n; i++) ids.push((await s.events.take()).payload.$id);
      await s.events.none(() => true, 300, 'an event the queries exclude');
      return ids;
    };
    assert.deepEqual(await got(paid, 2), ['q-2', 'q-5']);
    assert.deepEqual(await got(big, 2), ['q-3', 'q-5']);
  });

  test('Query.or, isNull and lessThanEqual; numbers are not strings', async () => {
    const channel = Channel.database('postgres').collection('orders').document();
    const s = await subscribe(rt, channel, [Query.or([Query.isNull('note'), Query.lessThanEqual('amount', 2)])]);
    const str = await subscribe(rt, channel, [Query.equal('amount', ['7'])]);
    await cluster.sql(`
      INSERT INTO orders VALUES ('r-1', 'new', 7, 'x');
      INSERT INTO orders VALUES ('r-2', 'new', 7, NULL);
      INSERT INTO orders VALUES ('r-3', 'new', 2, 'x');`);
    assert.equal((await s.events.take()).payload.$id, 'r-2');
    assert.equal((await s.events.take()).payload.$id, 'r-3');
    await s.events.none(() => true, 300, 'r-1 (note set, amount 7)');
    await str.events.none(() => true, 100, 'an event for the string "7" matching the number 7');
  });

  test('Query.select([\'*\']) is accepted and selects everything', async () => {
    const s = await subscribe(rt, Channel.database('postgres').collection('orders').document(),
      [Query.select(['*']), Query.equal('status', ['selected'])]);
    await cluster.sql(`INSERT INTO orders VALUES ('sel-1', 'selected', 1, NULL)`);
    const e = await s.events.take();
    assert.equal(e.payload.$id, 'sel-1');
    assert.equal(e.payload.amount, 1, 'all attributes are there');
  });

  test('an unsupported query reaches the SDK\'s onError as error 1003', async () => {
    const errors = new Inbox('onError');
    const rt2 = newRealtime();
    realtimes.push(rt2);
    rt2.onError((error, code) => errors.push({ message: error?.message, code }));
    await withTimeout(rt2.subscribe('documents', () => {}, [Query.search('note', 'x')]), 5000, 'subscribe');
    const err = await errors.take(() => true, 5000, 'the error callback');
    assert.equal(err.code, 1003);
    assert.ok(err.message.length > 0);
  });

  test('subscription.update() replaces the queries on the server', async () => {
    const s = await subscribe(rt, Channel.database('postgres').collection('orders').document(), [Query.equal('status', ['a'])]);
    await s.sub.update({ queries: [Query.equal('status', ['b'])] });
    await rt.socket.inbox.take((m) => m.type === 'response' && m.data?.to === 'subscribe', 5000, 'ack of the update');
    await cluster.sql(`INSERT INTO orders VALUES ('u-1', 'a', 1, NULL); INSERT INTO orders VALUES ('u-2', 'b', 1, NULL);`);
    assert.equal((await s.events.take()).payload.$id, 'u-2');
    await s.events.none(() => true, 300, 'the event matching the replaced query');
  });
});

describe('unsubscribe', () => {
  test('unsubscribe() stops delivery to that subscription; the others on the socket keep receiving', async () => {
    const rt = newRealtime();
    realtimes.push(rt);
    const channel = Channel.database('postgres').collection('orders').document();
    const gone = await subscribe(rt, channel);
    const stays = await subscribe(rt, 'documents');
    await gone.sub.unsubscribe();
    const ack = await rt.socket.inbox.take((m) => m.type === 'response' && m.data?.to === 'unsubscribe', 5000,
      'the unsubscribe acknowledgement');
    assert.equal(ack.data.success, true);
    await cluster.sql(`INSERT INTO orders VALUES ('x-1', 'new', 1, NULL)`);
    const e = await stays.events.take();
    assert.equal(e.payload.$id, 'x-1');
    assert.equal(e.subscriptions.length, 1, 'the event names only the remaining subscription');
    await gone.events.none(() => true, 300, 'an event after unsubscribe');
  });

  test('disconnect() closes the socket with 1000 and the relay forgets the connection', async () => {
    const rt = newRealtime();
    realtimes.push(rt);
    await subscribe(rt, 'documents');
    const socket = rt.socket;
    await withTimeout(rt.disconnect(), 3000, 'disconnect');
    assert.equal(socket.closeEvent?.code, 1000);
  });
});

describe('the older client.subscribe(channels, callback) API', () => {
  test('receives events and its returned function unsubscribes', async () => {
    const client = new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('demo');
    legacyClients.push(client);
    const events = new Inbox('client.subscribe callback');
    const before = sockets.length;
    const unsubscribe = client.subscribe(['databases.postgres.collections.orders.documents'], (e) => events.push(e));
    try {
      // the legacy API opens its socket 50 ms later, then subscribes on "connected"
      const socket = await waitFor(() => sockets.length > before && sockets.at(-1),
        { timeout: 3000, interval: 10, what: 'the SDK to open its socket' });
      await socket.inbox.take((m) => m.type === 'response' && m.data?.to === 'subscribe', 5000, 'the subscribe ack');
      await cluster.sql(`INSERT INTO orders VALUES ('l-1', 'new', 1, NULL)`);
      const e = await events.take();
      assert.equal(e.payload.$id, 'l-1');
      assert.ok(e.events.includes('databases.postgres.collections.orders.documents.l-1.create'));
    } finally {
      unsubscribe();
    }
    await cluster.sql(`INSERT INTO orders VALUES ('l-2', 'new', 1, NULL)`);
    await events.none(() => true, 300, 'an event after the unsubscribe function ran');
    // with no subscriptions left the SDK closes its socket
    await waitFor(() => sockets.at(-1).readyState === WebSocket.CLOSED,
      { timeout: 3000, interval: 10, what: 'the legacy socket to close' });
  });
});
