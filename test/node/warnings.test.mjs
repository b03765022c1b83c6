// warnings.test.mjs - a channel that can never match gets a warning, not silence
//
// A schema name where the database id belongs, a collection no table is
// tracked as, a channel of another Appwrite service: the relay tells the
// client in a form the SDK ignores and a person sees: a {"type":"warning"}
// WebSocket message, an SSE comment line.  The relay learns each database's
// ids and collections on demand (realtime.database_ids(),
// realtime.collections()), and only after a lookup that started after the
// subscription, so a table tracked a moment before is no warning.  Timing:
// every wait is for a message with a deadline; a warning that must not come
// is checked after a later one that must (warnings keep their order).
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { test, useCluster } from './lib/cluster.mjs';
import { connectWs, curlSse, isEvent } from './lib/clients.mjs';
import { Channel, Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { withTimeout } from './lib/wait.mjs';

const RELAY = 18755;
const realtimes = [];
const cluster = useCluster({
  name: 'warnings', port: 55478, relayPort: RELAY,
  setup: (c) => c.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
  },
});
const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=p`;
const isWarning = (m) => m.type === 'warning';

describe('WebSocket', () => {
  test('a schema name used as the database id gets a warning naming the real one; the connection stays', async () => {
    const c = await connectWs(URL);
    try {
      await c.subscribe([{ channels: ['databases.public.collections.orders.documents'] }]);
      const w = await c.inbox.take(isWarning, 5000, 'a warning');
      assert.match(w.data.message, /^channel "databases\.public\.collections\.orders\.documents" never matches: no database the relay listens to has the database id "public" \(theirs: "postgres"/);
      c.send({ type: 'ping' });
      await c.take('pong');
    } finally {
      await c.close();
    }
  });

  test('an unknown collection gets a warning listing the tracked ones; good channels get none', async () => {
    const c = await connectWs(URL);
    try {
      await c.subscribe([{ channels: ['documents', 'rows.create', 'databases.postgres.collections.orders.documents',
        'tablesdb.postgres.tables.orders.rows.7.update', 'databases.postgres.tables.orders.rows'] }]);
      await c.subscribe([{ channels: ['databases.postgres.collections.nope.documents'] }]);
      const w = await c.inbox.take(isWarning, 5000, 'a warning');
      assert.match(w.data.message, /collections\.nope\.documents" never matches: database "postgres" has no table tracked as collection "nope" \(tracked: "orders"/);
      assert.equal(c.inbox.all.filter(isWarning).length, 1, 'no warning for the channels that match');
    } finally {
      await c.close();
    }
  });

  test('a table tracked just before the subscription is no warning', async () => {
    const c = await connectWs(URL);
    try {
      // the relay looked the catalog up before: "fresh" was not tracked then
      await c.subscribe([{ channels: ['databases.postgres.collections.before.documents'] }]);
      await c.inbox.take(isWarning, 5000, 'the warning for "before"');
      await cluster.sql(`CREATE TABLE fresh (id int PRIMARY KEY);
        SELECT realtime.track('fresh', read => ARRAY['any']);`);
      await c.subscribe([{ channels: ['databases.postgres.collections.fresh.documents'] }]);
      await c.subscribe([{ channels: ['databases.postgres.collections.after.documents'] }]);
      const w = await c.inbox.take(isWarning, 5000, 'the warning for "after"');
      assert.match(w.data.message, /"after"/);
      assert.equal(c.inbox.all.filter(isWarning).length, 2, 'none for "fresh"');
      await cluster.sql('INSERT INTO fresh VALUES (1)');
      assert.equal((await c.inbox.take(isEvent(), 5000, 'the event of "fresh"')).data.payload.id, 1);
    } finally {
      await c.close();
    }
  });

  test('channels of other Appwrite services, or of no document, warn at once; URL channels too', async () => {
    const c = await connectWs(`${URL}&channels[]=account&channels[]=databases.postgres.collections.orders`);
    try {
      const a = await c.inbox.take(isWarning, 5000, 'the warning for "account"');
      assert.match(a.data.message, /^channel "account" never matches: pg_realtime publishes only document events/);
      const b = await c.inbox.take(isWarning, 5000, 'the warning for the collection channel');
      assert.match(b.data.message, /^channel "databases\.postgres\.collections\.orders" never matches/);
      assert.equal(c.inbox.all.findIndex((m) => m.type === 'connected'), 0, '"connected" still comes first');
    } finally {
      await c.close();
    }
  });

  test('warnings are bounded: 8 per subscribe message and a count, channel names cut at 200 bytes', async () => {
    const c = await connectWs(URL);
    try {
      await c.subscribe([{ channels: [...Array.from({ length: 19 }, (_, i) => `nothing-${i}`), 'x'.repeat(5000)] }]);
      const ws = [];
      for (let i = 0; i < 9; i++) ws.push(await c.inbox.take(isWarning, 5000, `warning ${i + 1} of 9`));
      assert.equal(ws[8].data.message, '12 more channels never match');
      c.send({ type: 'ping' });
      await c.take('pong');
      assert.equal(c.inbox.all.filter(isWarning).length, 9);
      await c.subscribe([{ channels: ['y'.repeat(5000)] }]);
      const long = await c.inbox.take(isWarning, 5000, 'the warning for a long channel');
      assert.ok(long.data.message.length < 1000, `${long.data.message.length} bytes`);
      assert.match(long.data.message, /^channel "y{200}"\.\.\. never matches/);
    } finally {
      await c.close();
    }
  });
});

test('the Appwrite SDK ignores the warning: no onError, and its other subscriptions get events', async () => {
  const rt = new Realtime(new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('p'));
  realtimes.push(rt);
  const errors = [];
  rt.onError((e, code) => errors.push(code));
  await subscribeAndWait(rt, Channel.database('public').collection('orders').document());
  await rt.socket.inbox.take(isWarning, 5000, 'the warning on the SDK\'s socket');
  const { events } = await subscribeAndWait(rt, Channel.database('postgres').collection('orders').document());
  await cluster.sql(`INSERT INTO orders VALUES (1, 'new')`);
  assert.equal((await events.take(() => true, 5000, 'the event through the SDK')).payload.id, 1);
  assert.deepEqual(errors, [], 'onError was not called');
  assert.equal(rt.socket.readyState, WebSocket.OPEN);
});

test('SSE with curl: the warning is a comment line, and a newline in a channel cannot forge a record', async () => {
  const s = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=databases.public.collections.orders.documents` +
    '&channels[]=x%0Adata:%20forged&channels[]=documents');
  try {
    const w = await s.records.take((r) => r.comment?.startsWith('warning:'), 5000, 'a warning comment');
    assert.match(w.comment, /^warning: channel "databases\.public\.collections\.orders\.documents" never matches/);
    const x = await s.records.take((r) => r.comment?.startsWith('warning:'), 5000, 'the second warning comment');
    assert.match(x.comment, /^warning: channel "x\\ndata: forged" never matches/);
    await cluster.sql(`INSERT INTO orders VALUES (2, 'new')`);
    const e = await s.event(() => true, 5000);
    assert.equal(e.json.data.payload.id, 2);
    const data = s.records.all.filter((r) => r.data !== undefined);
    assert.deepEqual(data.map((r) => r.json?.type), ['event'], 'the one event is the only data record');
  } finally {
    s.kill();
  }
});

test('a database id set with ALTER DATABASE counts at once, though the relay connected before', async () => {
  await cluster.sql("ALTER DATABASE postgres SET pg_realtime.database_id = 'shop'");
  const c = await connectWs(URL);
  try {
    await c.subscribe([{ channels: ['databases.shop.collections.orders.documents'] }]);
    await c.subscribe([{ channels: ['databases.nowhere.collections.orders.documents'] }]);
    const w = await c.inbox.take(isWarning, 5000, 'the warning for "nowhere"');
    assert.match(w.data.message, /"nowhere" \(theirs: "postgres", "shop"|"nowhere" \(theirs: "shop", "postgres"/);
    assert.equal(c.inbox.all.filter(isWarning).length, 1, 'none for "shop"');
    await cluster.sql(`INSERT INTO orders VALUES (3, 'shop')`); // a new session: its events say "shop"
    assert.equal((await c.inbox.take(isEvent(), 5000, 'the event of database "shop"')).data.payload.$databaseId, 'shop');
  } finally {
    await cluster.sql('ALTER DATABASE postgres RESET pg_realtime.database_id');
    await c.close();
  }
});
