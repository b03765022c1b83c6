// deflate.test.mjs - compression: permessage-deflate (RFC 7692) and gzip SSE
//
// The relay compresses each event body once for all subscribers and ends
// each message with the connection's own "subscriptions" in a stored block
// (src/relay/deflate.h).  Checked here with `ws` (whose client offers
// permessage-deflate by default), with frames decoded by hand through
// Node's zlib, with the Appwrite SDK, and with curl --compressed for SSE;
// Chromium is in browser.test.mjs.  A standalone relay, so that
// test/sanitize-relay.sh runs this file under ASan too.  Timing: every wait
// is for a message or a frame, with a deadline; writers send one row at a
// time and wait for it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import zlib from 'node:zlib';

import { StandaloneRelay, test, useCluster } from './lib/cluster.mjs';
import { OP, WsClient, closeCode, connectWs, curlSse, isEvent, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { withTimeout } from './lib/wait.mjs';

const PORT = 18790;
const PORT_OFF = 18791;
const relays = [];
const cluster = useCluster({
  name: 'deflate', port: 55490,
  setup: async (c) => {
    await c.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text);
      SELECT realtime.track('public.orders', read => ARRAY['any']);`);
    for (const [port, flags] of [[PORT, []], [PORT_OFF, ['--websocket-deflate=off', '--sse-gzip=off']]]) {
      const r = new StandaloneRelay({ port, conninfo: c.conninfo, flags: ['--project', 'demo', ...flags] });
      relays.push(r);
      await r.start();
    }
  },
  teardown: async () => {
    for (const r of relays) await r.stop().catch((e) => console.error(e.message));
    if (process.env.DEBUG_RELAY) relays.forEach((r) => console.error(r.log));
  },
});

const PATH = '/v1/realtime?project=demo&channels[]=documents';
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';
const ACCEPTED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
let nextId = 1;

/* Insert a row whose note repeats, so that it compresses; returns its id. */
async function insert(noteLen = 200) {
  const id = nextId++;
  await cluster.sql(`INSERT INTO orders VALUES (${id}, repeat('abc', ${Math.ceil(noteLen / 3)}))`);
  return id;
}

/* RFC 7692 7.2.2: append 00 00 ff ff and inflate with a fresh raw inflater. */
const inflate = (payload) => zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]),
  { finishFlush: zlib.constants.Z_SYNC_FLUSH });

/* A compressed client message: raw deflate, sync flush, 00 00 ff ff removed. */
function compress(text) {
  const out = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...out.subarray(-4)], [0, 0, 0xff, 0xff]);
  return out.subarray(0, -4);
}

/* A client data frame with RSV1 set (a compressed message's first frame). */
const compressedFrame = (payload, opts) => {
  const f = wsFrame(OP.TEXT, payload, opts);
  f[0] |= 0x40;
  return f;
};

/* Raw WebSocket offering deflate: the upgrade's extension header and frames. */
async function rawDeflate(port = PORT, offer = OFFER) {
  const r = await rawWebSocket(port, PATH, offer);
  r.extensions = /sec-websocket-extensions: ([^\r\n]*)/i.exec(r.data.subarray(0, r.headEnd).toString('latin1'))?.[1];
  await r.frame((f) => f.opcode === OP.TEXT, 5000, '"connected"');
  return r;
}

/* The raw frame (with its first byte) of the event for row id. */
async function rawEventFrame(r, id) {
  const find = () => {
    const buf = r.data.subarray(r.headEnd);
    let off = 0;
    while (off + 2 <= buf.length) {
      const b1 = buf[off + 1] & 0x7f;
      const hl = b1 === 126 ? 4 : b1 === 127 ? 10 : 2;
      const len = b1 === 126 ? buf.readUInt16BE(off + 2) : b1 === 127 ? Number(buf.readBigUInt64BE(off + 2)) : b1;
      if (off + hl + len > buf.length) return null;
      const payload = buf.subarray(off + hl, off + hl + len);
      const rsv1 = !!(buf[off] & 0x40);
      const text = (rsv1 ? inflate(payload) : payload).toString('utf8');
      if (text.includes(`"id":${id},`)) return { rsv1, payload, msg: JSON.parse(text) };
      off += hl + len;
    }
    return null;
  };
  await r.until(() => find() !== null, 5000, `the event of row ${id}`);
  return find();
}

test('a client offering permessage-deflate gets compressed events equal to uncompressed ones', async () => {
  const z = await rawDeflate();
  const plain = await rawWebSocket(PORT, PATH);
  try {
    assert.equal(z.extensions, ACCEPTED);
    assert.doesNotMatch(plain.data.subarray(0, plain.headEnd).toString('latin1'), /sec-websocket-extensions/i,
      'no offer, no extension');
    const id = await insert(2000);
    const a = await rawEventFrame(z, id);
    const b = await rawEventFrame(plain, id);
    assert.equal(a.rsv1, true, 'RSV1 set on the compressed message');
    assert.equal(b.rsv1, false);
    // the subscription ids are the connection's own; everything else is the same
    const strip = (m) => ({ ...m, data: { ...m.data, subscriptions: m.data.subscriptions.length } });
    assert.deepEqual(strip(a.msg), strip(b.msg));
    assert.ok(a.payload.length < 0.35 * b.payload.length,
      `compressed ${a.payload.length} bytes, uncompressed ${b.payload.length}`);
  } finally {
    z.destroy();
    plain.destroy();
  }
});

test('ws (perMessageDeflate, the default) and ws without it receive the same events', async () => {
  // threshold 0: ws compresses even its small subscribe and ping messages
  const z = await connectWs(`ws://127.0.0.1:${PORT}${PATH}`, { perMessageDeflate: { threshold: 0 } });
  const plain = await connectWs(`ws://127.0.0.1:${PORT}${PATH}`, { perMessageDeflate: false });
  try {
    assert.match(z.ws.extensions, /^permessage-deflate/);
    assert.equal(plain.ws.extensions, '');
    // inbound compressed messages: a subscribe and a ping, answered
    const sub = await z.subscribe([{ channels: ['databases.postgres.collections.orders.documents'] }]);
    assert.equal(sub.subscriptions.length, 1);
    z.send({ type: 'ping' });
    await z.take('pong');
    for (let i = 0; i < 3; i++) {
      const id = await insert(100 + i * 3000);
      const [a, b] = await Promise.all([z, plain].map((c) =>
        c.inbox.take(isEvent((d) => d.payload.id === id), 5000, `event ${id}`)));
      assert.deepEqual({ ...a.data, subscriptions: null }, { ...b.data, subscriptions: null });
      assert.equal(a.data.subscriptions.length, 2, 'both subscriptions of the compressed client, named');
      assert.ok(a.data.subscriptions.includes(z.connected.data.subscriptions[0]));
    }
  } finally {
    await z.close();
    await plain.close();
  }
});

test('the Appwrite SDK receives events (its platform WebSocket may or may not offer deflate)', async () => {
  const client = new Client().setEndpoint(`http://127.0.0.1:${PORT}/v1`).setProject('demo');
  const rt = new Realtime(client);
  const { sub, events } = await subscribeAndWait(rt, 'documents');
  try {
    const id = await insert(500);
    const e = await events.take((x) => x.payload.id === id, 5000, 'the SDK callback');
    assert.equal(e.payload.note.length, 501);
    // report what Node's WebSocket negotiated, so a change of Node shows here
    console.log(`SDK socket extensions: ${JSON.stringify(rt.socket.extensions)}`);
  } finally {
    await sub.close();
  }
});

test('a compressed message inflating past max_message_size (a zip bomb) is refused with 1009', async () => {
  const r = await rawDeflate();
  const other = await connectWs(`ws://127.0.0.1:${PORT}${PATH}`);
  try {
    // 10 MB of spaces in a JSON string: about 10 KB compressed, under the 64000-byte limit
    const bomb = compress(`{"type":"ping","data":"${' '.repeat(10 * 1024 * 1024)}"}`);
    assert.ok(bomb.length < 64000);
    r.write(compressedFrame(bomb));
    const close = await r.frame((f) => f.opcode === OP.CLOSE, 5000, 'the close frame');
    assert.equal(closeCode(close), 1009);
    // the relay goes on serving the others
    const id = await insert();
    await other.inbox.take(isEvent((d) => d.payload.id === id), 5000, 'an event after the bomb');
  } finally {
    r.destroy();
    await other.close();
  }
});

test('compressed input that is not DEFLATE, or RSV1 on a continuation, closes the connection', async () => {
  const cases = [
    ['invalid DEFLATE data', [compressedFrame(Buffer.from([0xff, 0xff, 0xff, 0xff]))], 1007],
    ['a truncated DEFLATE stream', [compressedFrame(compress(`{"type":"ping"}`).subarray(0, 3))], 1007],
    ['RSV1 on a continuation frame', [
      compressedFrame(compress('{"type":'), { fin: false }),
      (() => { const f = wsFrame(OP.CONT, compress('"ping"}')); f[0] |= 0x40; return f; })()], 1002],
    ['RSV1 on a ping', [(() => { const f = wsFrame(OP.PING, 'x'); f[0] |= 0x40; return f; })()], 1002],
  ];
  for (const [what, frames, code] of cases) {
    const r = await rawDeflate();
    try {
      for (const f of frames) r.write(f);
      const close = await r.frame((f) => f.opcode === OP.CLOSE, 5000, `the close frame for ${what}`);
      assert.equal(closeCode(close), code, what);
    } finally {
      r.destroy();
    }
  }
  // a fragmented compressed message (RSV1 on the first frame only) is fine
  const r = await rawDeflate();
  try {
    const ping = compress('{"type":"ping"}');
    r.write(compressedFrame(ping.subarray(0, 4), { fin: false }));
    r.write(wsFrame(OP.CONT, ping.subarray(4)));
    const pong = await r.frame((f) => f.opcode === OP.TEXT && f.payload.includes('pong'), 5000, 'the pong');
    assert.equal(JSON.parse(pong.payload).type, 'pong');
  } finally {
    r.destroy();
  }
});

test('offers the relay cannot take are declined, and the connection goes on uncompressed', async () => {
  for (const offer of [
    'permessage-deflate; server_max_window_bits=10',
    'permessage-deflate; unknown_parameter',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_max_window_bits=16',
    'x-webkit-deflate-frame',
  ]) {
    const r = await rawDeflate(PORT, `Sec-WebSocket-Extensions: ${offer}\r\n`);
    try {
      assert.equal(r.extensions, undefined, offer);
      // RSV1 is then a protocol error
      r.write(compressedFrame(compress('{"type":"ping"}')));
      const close = await r.frame((f) => f.opcode === OP.CLOSE, 5000, 'the close frame');
      assert.equal(closeCode(close), 1002, offer);
    } finally {
      r.destroy();
    }
  }
  // the first acceptable offer of a list is taken
  const r = await rawDeflate(PORT, 'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9, ' +
    'permessage-deflate; server_max_window_bits="15"; client_max_window_bits=12\r\n');
  try {
    assert.equal(r.extensions, ACCEPTED);
  } finally {
    r.destroy();
  }
});

test('pg_realtime.websocket_deflate = off: offers are declined', async () => {
  const c = await connectWs(`ws://127.0.0.1:${PORT_OFF}${PATH}`);
  try {
    assert.equal(c.ws.extensions, '');
    const id = await insert();
    await c.inbox.take(isEvent((d) => d.payload.id === id), 5000, 'the event');
  } finally {
    await c.close();
  }
});

/* curl's whole output (raw bytes), with the response head (-i). */
function curlRaw(url, args) {
  const child = spawn('curl', ['-s', '-N', '-g', '-i', '--max-time', '30', ...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (d) => chunks.push(d));
  const exited = new Promise((resolve) => child.on('exit', () => resolve(Buffer.concat(chunks))));
  return { child, exited, bytes: () => Buffer.concat(chunks) };
}

test('SSE with Accept-Encoding: gzip is one gzip stream that curl --compressed reads as it comes', async () => {
  const url = `http://127.0.0.1:${PORT}${PATH}`;
  const z = curlSse(url, { curlArgs: ['--compressed'] });
  const plain = curlSse(url);
  try {
    await z.records.take((r) => r.retry === '1000', 5000, 'the retry line');
    await plain.records.take((r) => r.retry === '1000', 5000, 'the retry line');
    for (let i = 0; i < 3; i++) {
      const id = await insert(100 + i * 3000);
      const [a, b] = await Promise.all([z, plain].map((c) => c.event((j) => j?.data?.payload?.id === id)));
      assert.equal(a.id, b.id);
      assert.deepEqual(a.json, b.json);
    }
  } finally {
    z.kill();
    plain.kill();
  }
  // not asked for, or not allowed: identity
  for (const ae of ['identity', 'gzip;q=0, deflate']) {
    const r = curlRaw(url, ['-H', `Accept-Encoding: ${ae}`, '--max-time', '1']);
    const head = (await r.exited).toString('latin1');
    assert.doesNotMatch(head, /content-encoding/i, ae);
    assert.match(head, /retry: 1000/, ae);
  }
});

test('a gzip SSE stream ended by the relay has a valid CRC-32 and length', async () => {
  const r = new StandaloneRelay({ port: 18792, conninfo: cluster.conninfo, flags: ['--project', 'demo'] });
  relays.push(r);
  await r.start();
  // raw bytes, not decompressed by curl, so zlib checks the trailer here
  const raw = curlRaw(`http://127.0.0.1:18792${PATH}`, ['-H', 'Accept-Encoding: gzip', '-H', 'Accept: text/event-stream']);
  try {
    await withTimeout((async () => {
      while (!raw.bytes().includes('\r\n\r\n')) await new Promise((res) => setTimeout(res, 20));
    })(), 5000, 'the response head');
    const ids = [await insert(100), await insert(5000)];
    // wait for both events: inflate what came so far (a sync-flushed stream)
    await withTimeout((async () => {
      for (;;) {
        const b = raw.bytes();
        const body = b.subarray(b.indexOf('\r\n\r\n') + 4);
        const text = zlib.gunzipSync(body, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
        if (ids.every((id) => text.includes(`"id":${id},`))) return;
        await new Promise((res) => setTimeout(res, 20));
      }
    })(), 5000, 'both events on the gzip stream');
    // a clean exit (under test/sanitize-relay.sh: no leak or ASan report)
    assert.deepEqual(await r.stop(), { code: 0, signal: null }, r.log);
    const b = await raw.exited;
    const head = b.subarray(0, b.indexOf('\r\n\r\n')).toString('latin1');
    assert.match(head, /content-encoding: gzip/i);
    assert.match(head, /vary: accept-encoding/i);
    const text = zlib.gunzipSync(b.subarray(b.indexOf('\r\n\r\n') + 4)).toString();	// checks CRC and ISIZE
    assert.match(text, /^retry: 1000\n\n/);
    for (const id of ids) assert.match(text, new RegExp(`id: \\d+\\ndata: \\{"type":"event".*"id":${id},`));
  } finally {
    raw.child.kill('SIGKILL');
  }
});

test('pg_realtime.sse_gzip = off: SSE is not compressed', async () => {
  const r = curlRaw(`http://127.0.0.1:${PORT_OFF}${PATH}`, ['-H', 'Accept-Encoding: gzip', '--max-time', '1']);
  const head = (await r.exited).toString('latin1');
  assert.doesNotMatch(head, /content-encoding/i);
  assert.match(head, /retry: 1000/);
});
