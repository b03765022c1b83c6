// hostile.test.mjs - a standalone relay under a crowd of broken and hostile clients
//
// Seeded random garbage, random frames after a real upgrade, mutated
// Appwrite messages and clients that stop reading, all at once, while a
// well-behaved subscriber must still receive every event in order and the
// relay must exit cleanly on SIGTERM.  Timing: the writer is paced (one
// psql per row), the good subscriber only has to keep within 3 s of the
// relay.  test/sanitize-relay.sh runs this file
// against an AddressSanitizer + UndefinedBehaviorSanitizer build of the relay
// (PG_REALTIME_RELAY), where any memory error or leak fails the run.
import assert from 'node:assert/strict';

import { StandaloneRelay, health, test, useCluster } from './lib/cluster.mjs';
import { RawSocket, WsClient, isEvent, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { sleep, waitFor } from './lib/wait.mjs';

const PORT = 18740;
const ROWS = 200;
const cluster = useCluster({
  name: 'hostile', port: 55470,
  setup: (c) => c.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, status text, note jsonb);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  teardown: async () => { if (relay) await relay.stop().catch((e) => console.error(e.message)); },
});
let relay;

/* xorshift32: the same "random" inputs on every run */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

function randomBytes(rand, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/* Write buf in random-sized pieces, ignoring errors (the relay may hang up). */
async function dribble(sock, buf, rand) {
  for (let off = 0; off < buf.length && !sock.sock.destroyed;) {
    const n = 1 + Math.floor(rand() * 64);
    sock.write(buf.subarray(off, off + n));
    off += n;
    if (rand() < 0.2) await sleep(1);
  }
}

/*
 * A channel shaped like a document channel, with random levels: the
 * relay's check of channels that never match (catalog.c) parses them and
 * looks their database ids and collections up.
 */
function randomChannel(rand) {
  const level = () => (rand() < 0.3 ? ['orders', 'postgres', '', '*', 'documents'][Math.floor(rand() * 5)]
    : randomBytes(rand, Math.floor(rand() * 12)).toString('latin1'));
  const parts = [rand() < 0.5 ? 'databases' : 'tablesdb', level(), rand() < 0.5 ? 'collections' : 'tables', level(),
    rand() < 0.5 ? 'documents' : 'rows', level(), level(), level()];
  return parts.slice(0, 1 + Math.floor(rand() * parts.length)).join(rand() < 0.9 ? '.' : '..');
}

const HEADS = [
  'GET /v1/realtime?project=p&channels[]=documents HTTP/1.1\r\nHost: x\r\n',
  'GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ',
  'POST /v1/health HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n',
  'GET /v1/realtime?channels%5B%5D=%ZZ&channels[0]=%00 HTTP/1.0\r\n',
];

/* A client that starts like HTTP and goes wrong somewhere. */
async function garbageClient(rand) {
  const s = await RawSocket.connect(PORT);
  const head = Buffer.from(HEADS[Math.floor(rand() * HEADS.length)]);
  const cut = Math.floor(rand() * head.length);
  await dribble(s, Buffer.concat([head.subarray(0, cut), randomBytes(rand, Math.floor(rand() * 2048))]), rand);
  if (rand() < 0.5) s.destroy();
  return s;
}

/* A real upgrade, then random frames: bad opcodes, lengths, masks, fragments. */
async function badFrameClient(rand) {
  const s = await rawWebSocket(PORT, '/v1/realtime?project=p&channels[]=documents');
  const frames = [];
  for (let i = 0; i < 20; i++) {
    const kind = rand();
    if (kind < 0.3)
      frames.push(wsFrame(Math.floor(rand() * 16), randomBytes(rand, Math.floor(rand() * 300)),
        { fin: rand() < 0.7, mask: rand() < 0.9 }));
    else if (kind < 0.5)
      frames.push(wsFrame(1, JSON.stringify({ type: ['subscribe', 'unsubscribe', 'ping', 'x', null][i % 5],
        data: [{ channels: [randomBytes(rand, 8).toString('base64'), randomChannel(rand)],
          queries: rand() < 0.5 ? ['{"method":"equal"'] : [] }] })));
    else if (kind < 0.6)
      // tokens: random base64url parts, sometimes a real header, sometimes cut short
      frames.push(wsFrame(1, JSON.stringify({ type: 'authentication', data: { session: [
        rand() < 0.5 ? Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url') : randomBytes(rand, 12).toString('base64url'),
        randomBytes(rand, Math.floor(rand() * 200)).toString('base64url'),
        randomBytes(rand, 32).toString('base64url')].join('.').slice(0, 1 + Math.floor(rand() * 300)) } })));
    else if (kind < 0.8)
      frames.push(randomBytes(rand, Math.floor(rand() * 40)));
    else
      frames.push(wsFrame(1, Buffer.alloc(70000, 0x61)).subarray(0, 1000 + Math.floor(rand() * 60000)));
  }
  await dribble(s, Buffer.concat(frames), rand);
  if (rand() < 0.5) s.destroy();
  return s;
}

/* Subscribes to everything, then never reads again (its socket fills up). */
async function stalledClient() {
  const s = await rawWebSocket(PORT, '/v1/realtime?project=p&channels[]=documents');
  s.sock.pause();
  return s;
}

test('hostile and broken clients do not disturb a good subscriber, and the relay exits cleanly', async () => {
  relay = new StandaloneRelay({
    port: PORT, conninfo: cluster.conninfo,
    // the stalled clients' backlog passes the 16 kB soft limit and they are
    // cut off 3 s later; the good subscriber may fall behind for a moment in
    // a burst of large events, never for 3 s, and never by the 16 MB hard limit
    flags: ['--max-message-size', '4096', '--handshake-timeout', '500', '--idle-timeout', '30000',
      '--max-client-output', '16MB', '--client-output-soft-limit', '16kB', '--client-output-grace', '3s',
      '--max-connections', '2000',
      // every line about a client is logged: the test reads why they were cut off
      '--max-log-lines-per-minute', '0'],
  });
  await relay.start();
  const good = await WsClient.open(`ws://127.0.0.1:${PORT}/v1/realtime?project=p&channels[]=documents`);
  await good.take('connected');
  const rand = prng(20261123);
  const crowd = [];
  for (let i = 0; i < 40; i++) crowd.push(stalledClient());
  const attacks = [];
  for (let i = 0; i < 300; i++)
    attacks.push((i % 2 ? garbageClient : badFrameClient)(prng(Math.floor(rand() * 1e9))).catch(() => null));

  // events flow while the attacks are under way
  const note = JSON.stringify({ text: 'x'.repeat(500) });
  for (let i = 1; i <= ROWS; i++)
    await cluster.sql(`INSERT INTO orders VALUES (${i}, 'new', '${note}')`);
  const sockets = (await Promise.all(attacks)).filter(Boolean);

  const ids = [];
  for (let i = 1; i <= ROWS; i++)
    ids.push((await good.inbox.take(isEvent(), 10000, `event ${i} of ${ROWS}`)).data.payload.id);
  assert.deepEqual(ids, Array.from({ length: ROWS }, (_, i) => i + 1), 'every event, in commit order');

  // 60 large events (100 kB rows, fetched from realtime.large_events): more
  // than the kernel buffers of a stalled client hold (~4.3 MB), so the relay
  // must cut those off while the good subscriber gets every one
  await cluster.sql(`INSERT INTO orders SELECT g, 'big', jsonb_build_object('text', repeat('y', 100000))
                     FROM generate_series(1001, 1060) g`);
  const big = [];
  for (let i = 0; i < 60; i++) {
    const ev = await good.inbox.take(isEvent(), 10000, `large event ${i + 1} of 60`);
    assert.equal(ev.data.payload.note.text.length, 100000);
    big.push(ev.data.payload.id);
  }
  assert.deepEqual(big, Array.from({ length: 60 }, (_, i) => 1001 + i), 'large events whole, in order');

  // the stalled clients were cut off; the relay is still healthy
  await waitFor(async () => (await health(PORT)).clients.cut_off >= 40, { timeout: 30000, what: 'stalled clients cut off' });
  assert.match(relay.log, /client_output_grace \(client too slow\); disconnected/, 'cut off by the soft limit');
  const h = await health(PORT);
  assert.equal(h.status, 'ok');
  assert.equal(h.events.received, ROWS + 60);

  for (const s of sockets) s.destroy();
  for (const s of await Promise.all(crowd)) s.destroy();
  await good.close();
  const exit = await relay.stop();
  relay = null;
  assert.deepEqual(exit, { code: 0, signal: null }, 'clean exit on SIGTERM');
});
