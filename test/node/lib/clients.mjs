// clients.mjs - the real clients the tests drive: `ws`, raw TCP, curl (SSE)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';

import { Inbox, withTimeout } from './wait.mjs';

/* ------------------------------------------------------------ ws client */

/*
 * A `ws` WebSocket whose JSON messages land in an Inbox; .closed resolves
 * {code, reason} when the connection ends.
 */
export class WsClient {
  static async open(url, { headers, timeout = 5000, maxPayload, ca, localAddress, perMessageDeflate } = {}) {
    const c = new WsClient();
    // ca: the certificate authority of a wss:// server (a test's self-signed one);
    // perMessageDeflate: ws's option (ws offers permessage-deflate by default)
    c.ws = new WebSocket(url, { headers, maxPayload, handshakeTimeout: timeout, localAddress, ...(ca ? { ca } : {}),
      ...(perMessageDeflate !== undefined ? { perMessageDeflate } : {}) });
    c.inbox = new Inbox(`WebSocket ${url}`);
    c.raw = [];
    c.pongs = new Inbox('pongs');
    c.closed = new Promise((resolve) => {
      c.ws.on('close', (code, reason) => {
        c.inbox.end(`closed ${code}`);
        resolve({ code, reason: reason.toString() });
      });
    });
    c.ws.on('message', (data, isBinary) => {
      c.raw.push(data);
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        msg = { unparsable: data.toString(), isBinary };
      }
      // when it arrived (not enumerable: deepEqual ignores it), for latencies
      Object.defineProperty(msg, 'receivedAt', { value: Date.now(), enumerable: false });
      c.inbox.push(msg);
    });
    c.ws.on('pong', (data) => c.pongs.push(data.toString()));
    c.errors = [];
    c.ws.on('error', (e) => c.errors.push(e));
    await withTimeout(new Promise((resolve, reject) => {
      c.ws.once('open', resolve);
      c.ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
      c.ws.once('error', reject);
    }), timeout + 500, `WebSocket ${url} to open`);
    return c;
  }

  send(obj, opts = {}) {
    this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj), opts);
  }

  /* Next message of a type (and matching pred), removed from the inbox. */
  take(type, pred = () => true, ms = 5000) {
    return this.inbox.take((m) => m.type === type && pred(m), ms, `a "${type}" message`);
  }

  /* Subscribe and wait for the acknowledgement; returns its data. */
  async subscribe(rows, ms = 5000) {
    this.send({ type: 'subscribe', data: rows });
    const r = await this.take('response', (m) => m.data?.to === 'subscribe', ms);
    return r.data;
  }

  waitClosed(ms = 5000, what = 'the server to close the WebSocket') {
    return withTimeout(this.closed, ms, what);
  }

  terminate() {
    this.ws.terminate();
  }

  /* Close politely; terminate if the server does not answer in time. */
  async close(ms = 2000) {
    if (this.ws.readyState === WebSocket.CLOSED)
      return;
    try {
      this.ws.close(1000);
      await withTimeout(this.closed, ms, 'close handshake');
    } catch {
      this.ws.terminate();
    }
  }
}

/* Open a `ws` connection and take its "connected" message (kept as .connected). */
export async function connectWs(url, opts) {
  const c = await WsClient.open(url, opts);
  c.connected = await c.take('connected');
  return c;
}

/* Every `event` message's data, or only those for a subscription id. */
export function isEvent(pred = () => true) {
  return (m) => m.type === 'event' && pred(m.data);
}

/* ------------------------------------------------------------- raw TCP */

/*
 * A plain TCP connection: write bytes, wait for received bytes to match,
 * wait for the peer to close.
 */
export class RawSocket {
  static async connect(port, { timeout = 3000, localAddress } = {}) {
    const r = new RawSocket();
    r.data = Buffer.alloc(0);
    r.waiters = new Set();
    r.sock = net.connect({ host: '127.0.0.1', port, localAddress });
    r.sock.on('data', (d) => {
      r.data = Buffer.concat([r.data, d]);
      r.waiters.forEach((w) => w());
    });
    r.errors = [];
    r.sock.on('error', (e) => r.errors.push(e));
    r.closed = false;
    r.ended = new Promise((resolve) => r.sock.on('close', () => {
      r.closed = true;
      r.waiters.forEach((w) => w());
      resolve();
    }));
    await withTimeout(new Promise((resolve, reject) => {
      r.sock.once('connect', resolve);
      r.sock.once('error', reject);
    }), timeout, `TCP connection to port ${port}`);
    return r;
  }

  write(bytes) {
    this.sock.write(bytes);
  }

  text() {
    return this.data.toString('latin1');
  }

  /* Wait until pred(buffer) is true. */
  async until(pred, ms = 5000, what = 'response bytes') {
    if (pred(this.data))
      return this.data;
    // a closed connection gets no more bytes: fail now, not at the deadline
    if (this.sock.destroyed || this.closed)
      throw new Error(`connection closed before ${what}; got ${JSON.stringify(this.text().slice(0, 300))}`);
    let wake;
    const w = () => wake?.();
    this.waiters.add(w);
    try {
      return await withTimeout((async () => {
        for (;;) {
          await new Promise((resolve) => { wake = resolve; });
          if (pred(this.data))
            return this.data;
          if ((this.sock.destroyed || this.closed) && !pred(this.data))
            throw new Error(`connection closed before ${what}; got ${JSON.stringify(this.text().slice(0, 300))}`);
        }
      })(), ms, () => `${what}; got ${JSON.stringify(this.text().slice(0, 300))}`);
    } finally {
      this.waiters.delete(w);
    }
  }

  /* Wait until the peer closes; resolves the time it took. */
  async waitEnd(ms = 5000, what = 'the server to close the connection') {
    const t0 = Date.now();
    await withTimeout(this.ended, ms, what);
    return Date.now() - t0;
  }

  destroy() {
    this.sock.destroy();
  }
}

/* One HTTP exchange over a raw socket; resolves {status, headers, body, raw}. */
export async function rawHttp(port, request, { timeout = 5000 } = {}) {
  const r = await RawSocket.connect(port);
  try {
    r.write(request);
    await r.waitEnd(timeout, `an HTTP response to ${JSON.stringify(request.slice(0, 60))}`);
    return parseHttpResponse(r.text());
  } finally {
    r.destroy();
  }
}

export function parseHttpResponse(text) {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : null, statusLine, headers, body: end < 0 ? '' : text.slice(end + 4), raw: text };
}

/* ------------------------------------------------- WebSocket frames by hand */

/* One RFC 6455 frame as a client would send it (masked unless mask: false). */
export function wsFrame(opcode, payload, { fin = true, mask = true } = {}) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '');
  const len = body.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!mask)
    return Buffer.concat([Buffer.from(head), body]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(body);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/* Server frames (unmasked) in buf: [{fin, opcode, payload}], plus bytes used. */
export function parseWsFrames(buf) {
  const frames = [];
  let off = 0;
  while (off + 2 <= buf.length) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let hl = 2;
    if (len === 126) { if (off + 4 > buf.length) break; len = buf.readUInt16BE(off + 2); hl = 4; }
    else if (len === 127) { if (off + 10 > buf.length) break; len = Number(buf.readBigUInt64BE(off + 2)); hl = 10; }
    if (b1 & 0x80) hl += 4;
    if (off + hl + len > buf.length) break;
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: buf.subarray(off + hl, off + hl + len) });
    off += hl + len;
  }
  return { frames, used: off };
}

/* A raw socket that has done the WebSocket upgrade; resolves {sock, frames()}. */
export async function rawWebSocket(port, path = '/v1/realtime?project=test', extraHeaders = '', { localAddress } = {}) {
  const r = await RawSocket.connect(port, { localAddress });
  const key = crypto.randomBytes(16).toString('base64');
  r.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`);
  await r.until((b) => b.indexOf('\r\n\r\n') >= 0, 3000, 'the upgrade response');
  const headEnd = r.data.indexOf('\r\n\r\n') + 4;
  const head = parseHttpResponse(r.data.subarray(0, headEnd).toString('latin1'));
  if (head.status !== 101)
    throw new Error(`upgrade answered ${head.statusLine}`);
  r.headEnd = headEnd;
  /* every frame received after the upgrade response */
  r.frames = () => parseWsFrames(r.data.subarray(headEnd)).frames;
  /* wait for a frame matching pred */
  r.frame = async (pred, ms = 5000, what = 'a frame') => {
    await r.until(() => r.frames().some(pred), ms, what);
    return r.frames().find(pred);
  };
  r.json = (f) => JSON.parse(f.payload.toString('utf8'));
  return r;
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

export function closeCode(frame) {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
}

/* ------------------------------------------------------------ SSE (curl) */

/*
 * curl -N -g reading an SSE stream (with Accept: text/event-stream unless
 * accept is false; curlArgs: more options, e.g. --cacert).  .records is an
 * Inbox of parsed records ({id, data, comment, retry}); .exited resolves
 * curl's exit code.
 */
export function curlSse(url, { headers = [], maxTime = 60, accept = true, curlArgs = [] } = {}) {
  const args = [...(process.env.DEBUG_CURL ? ['-v'] : []), '-N', '-g', '-s', '-S', '--max-time', String(maxTime), ...curlArgs];
  if (accept) args.push('-H', 'Accept: text/event-stream');
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const records = new Inbox(`curl ${url}`);
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const rec = { lines: block.split('\n') };
      for (const line of rec.lines) {
        if (line.startsWith(':')) rec.comment = line.slice(1).trim();
        else {
          const j = line.indexOf(':');
          const field = j < 0 ? line : line.slice(0, j);
          let value = j < 0 ? '' : line.slice(j + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') rec.data = rec.data === undefined ? value : `${rec.data}\n${value}`;
          else rec[field] = value;
        }
      }
      if (rec.data !== undefined) {
        try { rec.json = JSON.parse(rec.data); } catch { rec.json = null; }
      }
      records.push(rec);
    }
  });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    records.end(`curl exited ${code ?? signal}: ${stderr.trim()}`);
    resolve({ code, signal, stderr, rest: buf });
  }));
  return {
    child, records, exited,
    /* next data record (an event) matching pred */
    event: (pred = () => true, ms = 5000) =>
      records.take((r) => r.data !== undefined && r.event === undefined && pred(r.json), ms, 'an SSE event record'),
    /* next gap signal ("event: gap") */
    gap: (ms = 5000) => records.take((r) => r.event === 'gap', ms, 'an SSE gap record'),
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
}

/*
 * Compare two event positions as the relay writes them: "16/B374D848:3"
 * (wal transport: commit LSN, index) or "42" (notify: a counter).
 */
export function comparePositions(a, b) {
  const key = (p) => {
    const m = /^([0-9A-F]+)\/([0-9A-F]+):(\d+)$/.exec(p);
    return m ? [BigInt(`0x${m[1]}`) << 32n | BigInt(`0x${m[2]}`), BigInt(m[3])] : [BigInt(p), 0n];
  };
  const [x, y] = [key(a), key(b)];
  return x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : 0;
}

/* ----------------------------------------------------- expected event names */

/*
 * The 42 event names of a row change in Appwrite's order (PROTOCOL.md
 * section 4, checked against appwrite-events/vectors.json).
 */
export function expectedEvents(d, c, x, a) {
  const names = [];
  const both = (s) => [s, s.replace('.collections.', '.tables.').replace('.documents', '.rows')];
  const docCombos = [[d, c, x], ['*', '*', '*'], [d, '*', x], ['*', '*', x], ['*', c, x], [d, c, '*'], ['*', c, '*'], [d, '*', '*']];
  for (const [dd, cc, xx] of docCombos) names.push(...both(`databases.${dd}.collections.${cc}.documents.${xx}.${a}`));
  for (const [dd, cc, xx] of docCombos) names.push(...both(`databases.${dd}.collections.${cc}.documents.${xx}`));
  for (const [dd, cc] of [[d, c], ['*', '*'], [d, '*'], ['*', c]]) names.push(...both(`databases.${dd}.collections.${cc}`));
  names.push(`databases.${d}`, 'databases.*');
  return names;
}

/* The 16 channels of a row change (PROTOCOL.md section 5). */
export function expectedChannels(d, c, x, a) {
  const base = ['documents', `databases.${d}.collections.${c}.documents`, `databases.${d}.collections.${c}.documents.${x}`,
    'rows', `databases.${d}.tables.${c}.rows`, `databases.${d}.tables.${c}.rows.${x}`,
    `tablesdb.${d}.tables.${c}.rows`, `tablesdb.${d}.tables.${c}.rows.${x}`];
  return [...base, ...base.map((ch) => `${ch}.${a}`)];
}
