// sse.test.mjs - Server-Sent Events read with real `curl -N -g`
//
// Same path as the WebSocket, channels in the query string; every event is
// an `id:` + `data:` record whose data is the WebSocket event message,
// quiet streams get `: keepalive` comments, and Last-Event-ID resumes.
// Timing: each test waits for the records it expects; a check that nothing
// more arrives comes after a later record in commit order, or is a short
// look for a duplicate.
import assert from 'node:assert/strict';
import { after } from 'node:test';

import { TRANSPORT, test, useCluster } from './lib/cluster.mjs';
import {
  RawSocket, WsClient, comparePositions, curlSse, isEvent, parseHttpResponse, rawHttp,
} from './lib/clients.mjs';

const RELAY = 18710;
const cluster = useCluster({
  name: 'sse', port: 55450, relayPort: RELAY,
  conf: ['pg_realtime.sse_keepalive = 300ms', "pg_realtime.allowed_origins = 'http://app.example'",
    'pg_realtime.replay_events = 4'],
  setup: (c) => c.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, status text);
    SELECT realtime.track('public.orders', read => ARRAY['any']);
    CREATE TABLE members_only (id int PRIMARY KEY);
    SELECT realtime.track('public.members_only', read => ARRAY['users']);`),
});

const BASE = `http://127.0.0.1:${RELAY}/v1/realtime`;
const streams = [];
after(() => streams.forEach((s) => s.kill()));

function sse(url, opts) {
  const s = curlSse(url, opts);
  streams.push(s);
  return s;
}

/* The stream is up once its first record ("retry: 1000") arrived. */
async function opened(s) {
  const first = await s.records.take(() => true, 5000, 'the stream to open');
  assert.equal(first.retry, '1000', 'the stream starts with a retry hint');
  return s;
}

test('the stream answers 200 text/event-stream, uncached, and stays open', async () => {
  const r = await RawSocket.connect(RELAY);
  try {
    r.write('GET /v1/realtime?channels[]=documents HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await r.until((b) => b.includes('retry: 1000\n\n'), 3000, 'the stream head');
    const res = parseHttpResponse(r.text());
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.body, 'retry: 1000\n\n');
    assert.equal(r.sock.destroyed, false);
  } finally {
    r.destroy();
  }
});

test('each event is an id: + data: record whose data is the WebSocket event message', async () => {
  const s = await opened(sse(`${BASE}?channels[]=databases.postgres.collections.orders.documents`));
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=documents`);
  try {
    await ws.take('connected');
    await cluster.sql(`INSERT INTO orders VALUES (1, 'new'); UPDATE orders SET status = 'paid' WHERE id = 1;`);
    const a = await s.event();
    const b = await s.event();
    assert.match(a.id, TRANSPORT === 'wal' ? /^[0-9A-F]+\/[0-9A-F]+:\d+$/ : /^\d+$/);
    assert.ok(comparePositions(b.id, a.id) > 0, 'ids increase');
    assert.deepEqual(a.lines, [`id: ${a.id}`, `data: ${a.data}`], 'one id line, one data line');
    assert.equal(a.json.data.position, a.id, 'the id is the event\'s position field');

    const wa = await ws.inbox.take(isEvent());
    assert.equal(a.json.type, 'event');
    assert.equal(a.json.data.subscriptions.length, 1);
    const strip = (m) => ({ ...m, data: { ...m.data, subscriptions: null } });
    assert.deepEqual(strip(a.json), strip(wa), 'same JSON as the WebSocket frame (but the subscription ids)');
    assert.equal(b.json.data.payload.status, 'paid');
    assert.ok(b.json.data.events.includes('databases.postgres.collections.orders.documents.1.update'));
  } finally {
    s.kill();
    await ws.close();
  }
});

test('plain `curl -N URL` (no Accept header), as in the README, gets the stream too', async () => {
  const s = await opened(sse(`${BASE}?channels[]=documents`, { accept: false }));
  await cluster.sql(`INSERT INTO orders VALUES (2, 'plain')`);
  assert.equal((await s.event()).json.data.payload.id, 2);
  s.kill();
});

test('channels in every spelling: channels[]=, channels[0]=, channels%5B%5D=', async () => {
  const urls = [`${BASE}?channels[0]=documents.delete`, `${BASE}?channels%5B%5D=rows.delete`,
    `${BASE}?channels[]=tablesdb.postgres.tables.orders.rows.1.delete`];
  const streams3 = await Promise.all(urls.map((u) => opened(sse(u))));
  try {
    await cluster.sql('DELETE FROM orders WHERE id = 1');
    for (const s of streams3) {
      const e = await s.event();
      assert.equal(e.json.data.payload.id, 1);
      assert.ok(e.json.data.events.includes('databases.*.collections.*.documents.*.delete'));
    }
  } finally {
    streams3.forEach((s) => s.kill());
  }
});

// timing: two keepalives cannot come sooner than 2 x 300 ms after the stream
// head; the upper bound only tells 300 ms from the 15 s default, allowing for
// a loaded machine
test('a quiet stream gets ": keepalive" comments every pg_realtime.sse_keepalive (300ms)', async () => {
  const s = await opened(sse(`${BASE}?channels[]=documents`));
  const t0 = Date.now();
  const k1 = await s.records.take((r) => r.comment !== undefined, 6000, 'a keepalive comment');
  await s.records.take((r) => r.comment !== undefined, 6000, 'a second keepalive comment');
  const elapsed = Date.now() - t0;
  assert.equal(k1.comment, 'keepalive');
  assert.ok(elapsed >= 400 && elapsed < 6000, `two keepalives took ${elapsed} ms`);
  s.kill();
});

test('Last-Event-ID resumes: the events after that id are replayed, then live ones follow', async () => {
  const first = await opened(sse(`${BASE}?channels[]=documents`));
  await cluster.sql(`INSERT INTO orders VALUES (10, 'a'); INSERT INTO orders VALUES (11, 'b'); INSERT INTO orders VALUES (12, 'c');`);
  const seen = [await first.event(), await first.event(), await first.event()];
  first.kill();
  assert.deepEqual(seen.map((r) => r.json.data.payload.id), [10, 11, 12]);

  // reconnect as EventSource does, naming the last event it saw
  const resumed = await opened(sse(`${BASE}?channels[]=documents`, { headers: [`Last-Event-ID: ${seen[0].id}`] }));
  const r1 = await resumed.event();
  const r2 = await resumed.event();
  assert.deepEqual([r1.id, r2.id], [seen[1].id, seen[2].id], 'the two missed events, with their ids');
  assert.deepEqual(r1.json, seen[1].json, 'replayed exactly as first sent');
  await cluster.sql(`INSERT INTO orders VALUES (13, 'd')`);
  const live = await resumed.event();
  assert.equal(live.json.data.payload.id, 13);
  await resumed.records.none((r) => r.data !== undefined, 200, 'a duplicate event');
  resumed.kill();
});

test('a replay sends only what the stream may see: its channels, and guest-readable events', async () => {
  const all = await opened(sse(`${BASE}?channels[]=documents`));
  await cluster.sql(`INSERT INTO orders VALUES (19, 'mark'); INSERT INTO orders VALUES (20, 'a');
    INSERT INTO members_only VALUES (1); INSERT INTO orders VALUES (21, 'b');`);
  const mark = await all.event();
  const first = await all.event();
  await all.event((j) => j.data.payload.id === 21);
  all.kill();
  assert.deepEqual([mark.json.data.payload.id, first.json.data.payload.id], [19, 20]);

  const one = await opened(sse(`${BASE}?channels[]=databases.postgres.collections.orders.documents.21`,
    { headers: [`Last-Event-ID: ${mark.id}`] }));
  const r = await one.event();
  assert.equal(r.json.data.payload.id, 21, 'not 20 (another document), not the members-only row');
  await one.records.none((x) => x.data !== undefined, 200, 'an event the stream may not see');
  one.kill();
});

test('only the last pg_realtime.replay_events (4) events can be replayed: older positions get a gap signal first', async () => {
  const s = await opened(sse(`${BASE}?channels[]=documents`));
  await cluster.sql(Array.from({ length: 6 }, (_, i) => `INSERT INTO orders VALUES (${30 + i}, 'r');`).join('\n'));
  const seen = [];
  for (let i = 0; i < 6; i++) seen.push(await s.event());
  s.kill();
  const resumed = await opened(sse(`${BASE}?channels[]=documents`, { headers: [`Last-Event-ID: ${seen[0].id}`] }));
  const gap = await resumed.records.take((r) => r.data !== undefined, 5000, 'the first record');
  assert.equal(gap.event, 'gap', '31 was pushed out: the stream says so before anything else');
  assert.equal(gap.id, seen[1].id, 'the gap\'s id is the newest position the window no longer has');
  assert.deepEqual(gap.json, { type: 'gap', data: { position: seen[1].id } });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await resumed.event()).json.data.payload.id);
  assert.deepEqual(ids, [32, 33, 34, 35], 'then the 4 kept events');
  await resumed.records.none((x) => x.data !== undefined, 200, 'a fifth replayed event');
  resumed.kill();

  // resuming from the gap's own id is complete again: no second gap
  const again = await opened(sse(`${BASE}?channels[]=documents`, { headers: [`Last-Event-ID: ${gap.id}`] }));
  assert.equal((await again.records.take((r) => r.data !== undefined)).json.data.payload.id, 32);
  again.kill();
});

test('a Last-Event-ID that is no position of this stream gets a gap signal and no replay; an empty one is no resume', async () => {
  const other = TRANSPORT === 'wal' ? '42' : '0/16B3748:0';
  for (const bad of ['abc', '-1', '99999999999999999999999', other]) {
    const b = await opened(sse(`${BASE}?channels[]=documents`, { headers: [`Last-Event-ID: ${bad}`] }));
    const gap = await b.gap();
    assert.equal(gap.json.type, 'gap');
    await b.records.none((x) => x.data !== undefined, 150, `a replay for Last-Event-ID "${bad}"`);
    b.kill();
  }
  const fresh = await opened(sse(`${BASE}?channels[]=documents`, { headers: ['Last-Event-ID:'] }));
  await fresh.records.none((x) => x.data !== undefined, 150, 'a record for an empty Last-Event-ID');
  fresh.kill();
});

test('a stream without channels gets 400; an Origin not allowed gets 403, an allowed one CORS headers', async () => {
  const none = sse(BASE);
  const { code, rest } = await none.exited;
  assert.equal(code, 0);
  assert.equal(JSON.parse(none.records.all[0]?.lines.join('\n') ?? rest).code, 400);

  const r = await rawHttp(RELAY, 'GET /v1/realtime?channels[]=documents HTTP/1.1\r\nHost: x\r\n' +
    'Accept: text/event-stream\r\nOrigin: http://evil.example\r\n\r\n');
  assert.equal(r.status, 403);
  const ok = await RawSocket.connect(RELAY);
  try {
    ok.write('GET /v1/realtime?channels[]=documents HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n' +
      'Origin: http://app.example\r\n\r\n');
    await ok.until((b) => b.includes('retry: 1000'), 3000, 'the stream head');
    const head = parseHttpResponse(ok.text());
    assert.equal(head.status, 200);
    assert.equal(head.headers['access-control-allow-origin'], 'http://app.example', 'EventSource in a browser needs CORS');
    assert.equal(head.headers.vary, 'Origin');
  } finally {
    ok.destroy();
  }
});
