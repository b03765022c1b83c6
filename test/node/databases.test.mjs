// databases.test.mjs - one relay, several databases
//
// pg_realtime.databases (worker) or several CONNINFO arguments (standalone)
// give one LISTEN connection per database; each database's events carry its
// own database id, so clients tell them apart by channel.  Timing: every
// wait is for a condition (listeners up, an event), with a deadline.
import assert from 'node:assert/strict';

import { StandaloneRelay, health, test, useCluster, waitRelayReady } from './lib/cluster.mjs';
import { WsClient, isEvent } from './lib/clients.mjs';

const RELAY = 18720;
const STANDALONE = 18721;
const TABLE = `
  CREATE TABLE orders (id int PRIMARY KEY, note text);
  SELECT realtime.track('public.orders', read => ARRAY['any']);`;
const relays = [];
const cluster = useCluster({
  name: 'databases', port: 55460, relayPort: RELAY, waitReady: false,
  // "shop" does not exist yet when the worker starts: it retries
  conf: ["pg_realtime.databases = 'postgres, shop'", 'pg_realtime.reconnect_max_delay = 300ms'],
  setup: async (c) => {
    await c.sql(`${TABLE}\nCREATE DATABASE shop;`);
    await c.sql(`CREATE EXTENSION pg_realtime;\n${TABLE}`, { database: 'shop' });
  },
  teardown: async () => {
    for (const r of relays) await r.stop().catch((e) => console.error(e.message));
  },
});

/* A client on one database's collection channel and one on all documents. */
async function clientsOn(port) {
  const shop = await WsClient.open(`ws://127.0.0.1:${port}/v1/realtime?project=p&channels[]=databases.shop.collections.orders.documents`);
  const all = await WsClient.open(`ws://127.0.0.1:${port}/v1/realtime?project=p&channels[]=documents`);
  await shop.take('connected');
  await all.take('connected');
  return { shop, all };
}

async function expectBothDatabases({ shop, all }) {
  await cluster.sql(`INSERT INTO orders VALUES (1, 'from postgres')`);
  await cluster.sql(`INSERT INTO orders VALUES (1, 'from shop')`, { database: 'shop' });
  const a = await all.inbox.take(isEvent(), 5000, 'the event of database postgres');
  const b = await all.inbox.take(isEvent(), 5000, 'the event of database shop');
  const byDb = Object.fromEntries([a, b].map((m) => [m.data.payload.$databaseId, m.data]));
  assert.equal(byDb.postgres.payload.note, 'from postgres');
  assert.equal(byDb.shop.payload.note, 'from shop');
  assert.ok(byDb.shop.events.includes('databases.shop.collections.orders.documents.1.create'));
  const s = await shop.inbox.take(isEvent(), 5000, 'the shop event on the shop channel');
  assert.equal(s.data.payload.note, 'from shop');
  await shop.inbox.none(isEvent(), 200, 'the postgres event on the shop channel');
  await cluster.sql('DELETE FROM orders');
  await cluster.sql('DELETE FROM orders', { database: 'shop' });
}

test('the worker LISTENs in every database of pg_realtime.databases, waiting for one created later', async () => {
  const h = await waitRelayReady(RELAY, { timeout: 15000 });
  assert.equal(h.database.listeners, 2);
  assert.equal(h.database.connected, 2);
  const c = await clientsOn(RELAY);
  try {
    await expectBothDatabases(c);
  } finally {
    await c.shop.close();
    await c.all.close();
  }
});

test('a standalone relay given two connection strings does the same', async () => {
  const base = `host=${cluster.dir} port=${cluster.port} user=postgres`;
  const r = new StandaloneRelay({ port: STANDALONE, conninfo: [`${base} dbname=postgres`, `${base} dbname=shop`] });
  relays.push(r);
  await r.start();
  assert.equal((await health(STANDALONE)).database.listeners, 2);
  const c = await clientsOn(STANDALONE);
  try {
    await expectBothDatabases(c);
  } finally {
    await c.shop.close();
    await c.all.close();
  }
});

test('reload: a database added to pg_realtime.databases is listened to; open clients stay connected', async () => {
  await cluster.sql(`CREATE DATABASE late; ALTER SYSTEM SET pg_realtime.databases = 'postgres, shop, late';`);
  await cluster.sql(`CREATE EXTENSION pg_realtime;\n${TABLE}`, { database: 'late' });
  const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=databases.late.collections.orders.documents`);
  try {
    await c.take('connected');
    await cluster.sql('SELECT pg_reload_conf()');
    await waitRelayReady(RELAY, { timeout: 10000, since: (h) => h.database.listeners === 3 });
    await cluster.sql(`INSERT INTO orders VALUES (1, 'from late')`, { database: 'late' });
    const e = await c.inbox.take(isEvent(), 5000, 'the event of the added database');
    assert.equal(e.data.payload.note, 'from late');
    assert.equal(c.ws.readyState, c.ws.OPEN);
  } finally {
    await c.close();
  }
});
