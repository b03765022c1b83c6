// large.test.mjs - a row of 1 MB is delivered whole
//
// Events longer than pg_realtime.inline_payload_limit do not fit a NOTIFY:
// the trigger stores them in realtime.large_events and notifies a pointer,
// and the relay fetches the event.  Clients see no difference.  Timing:
// waits are for events and for the purge, with deadlines; two 1 MB events
// stay under the 4 MB default hard limit however slowly a client reads.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { health, test, useCluster } from './lib/cluster.mjs';
import { WsClient, curlSse, isEvent } from './lib/clients.mjs';
import { Channel, Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18718;
const realtimes = [];
const cluster = useCluster({
  name: 'large', port: 55458, relayPort: RELAY,
  conf: ['pg_realtime.purge_interval = 500ms', 'pg_realtime.large_event_retention = 3s'],
  setup: (c) => c.sql(`
    CREATE TABLE docs (id int PRIMARY KEY, body text);
    SELECT realtime.track('public.docs', read => ARRAY['any']);`),
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
  },
});

const MB = 1024 * 1024;
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

test('a 1 MB row reaches a WebSocket, an SSE stream and the SDK whole, in order with small ones', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=documents`);
  const rt = new Realtime(new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('p'));
  realtimes.push(rt);
  try {
    await sse.records.take(() => true, 5000, 'the SSE stream to open');
    const { events: sdkEvents } = await subscribeAndWait(rt, Channel.database('postgres').collection('docs').document());

    // a small event, the large one, a small one: order is kept across the fetch
    await cluster.sql(`
      INSERT INTO docs VALUES (1, 'small');
      INSERT INTO docs SELECT 2, string_agg(md5(g::text), '') || repeat('z', ${MB} - 32 * 32768)
                         FROM generate_series(1, 32768) g;
      INSERT INTO docs VALUES (3, 'small');`);
    const expected = await cluster.sql('SELECT body FROM docs WHERE id = 2');
    assert.equal(expected.length, MB);
    const large = await cluster.sql('SELECT count(*) FROM realtime.large_events');
    assert.equal(large, '1', 'the 1 MB event went through realtime.large_events');

    const wsIds = [];
    for (let i = 0; i < 3; i++) wsIds.push(await ws.inbox.take(isEvent(), 10000, `WebSocket event ${i + 1}`));
    assert.deepEqual(wsIds.map((m) => m.data.payload.id), [1, 2, 3]);
    const body = wsIds[1].data.payload.body;
    assert.equal(body.length, MB);
    assert.equal(sha(body), sha(expected), 'the WebSocket got the row byte for byte');
    assert.ok(wsIds[1].data.events.includes('databases.postgres.collections.docs.documents.2.create'));

    const sseRecs = [];
    for (let i = 0; i < 3; i++) sseRecs.push(await sse.event(() => true, 10000));
    assert.deepEqual(sseRecs.map((r) => r.json.data.payload.id), [1, 2, 3]);
    assert.equal(sha(sseRecs[1].json.data.payload.body), sha(expected), 'the SSE stream got the row byte for byte');

    const sdk = [];
    for (let i = 0; i < 3; i++) sdk.push(await sdkEvents.take(() => true, 10000, `SDK event ${i + 1}`));
    assert.deepEqual(sdk.map((e) => e.payload.id), [1, 2, 3]);
    assert.equal(sha(sdk[1].payload.body), sha(expected), 'the SDK got the row byte for byte');
  } finally {
    sse.kill();
    await ws.close();
  }
});

test('a 1 MB update and delete arrive whole too', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    await cluster.sql(`UPDATE docs SET body = repeat('u', ${MB}) WHERE id = 2; DELETE FROM docs WHERE id = 2;`);
    const u = await ws.inbox.take(isEvent(), 10000, 'the update');
    const d = await ws.inbox.take(isEvent(), 10000, 'the delete');
    assert.equal(u.data.payload.body, 'u'.repeat(MB));
    assert.ok(u.data.events.includes('databases.postgres.collections.docs.documents.2.update'));
    assert.equal(d.data.payload.body, 'u'.repeat(MB));
    assert.ok(d.data.events.includes('databases.postgres.collections.docs.documents.2.delete'));
  } finally {
    await ws.close();
  }
});

test('two 1 MB rows in one transaction both reach a reading client (default max_client_output)', async () => {
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    await cluster.sql(`INSERT INTO docs VALUES (5, repeat('a', ${MB})), (6, repeat('b', ${MB}))`);
    const a = await ws.inbox.take(isEvent(), 10000, 'the first 1 MB event');
    const b = await ws.inbox.take(isEvent(), 10000, 'the second 1 MB event');
    assert.deepEqual([a.data.payload.id, b.data.payload.id], [5, 6]);
    assert.equal(b.data.payload.body, 'b'.repeat(MB));
  } finally {
    await ws.close();
  }
});

test('one event larger than pg_realtime.max_client_output (lowered to 64kB by reload) still goes out whole', async () => {
  // the limit bounds a client's backlog, not one event
  await cluster.reload("ALTER SYSTEM SET pg_realtime.max_client_output = '64kB';");
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    await cluster.sql(`INSERT INTO docs VALUES (4, repeat('d', ${MB}))`);
    const e = await ws.inbox.take(isEvent(), 10000, 'the 1 MB event');
    assert.equal(e.data.payload.body.length, MB);
    assert.equal((await health(RELAY)).clients.cut_off, 0);
  } finally {
    await ws.close();
  }
});

test('the worker purges realtime.large_events older than pg_realtime.large_event_retention (3s)', async () => {
  await cluster.sql(`INSERT INTO docs VALUES (7, repeat('p', ${MB}))`);
  assert.ok(Number(await cluster.sql('SELECT count(*) FROM realtime.large_events')) >= 1);
  await waitFor(async () => (await cluster.sql('SELECT count(*) FROM realtime.large_events')) === '0',
    { timeout: 8000, interval: 250, what: 'the purge of old large events' });
});
