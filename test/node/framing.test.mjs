// framing.test.mjs - RFC 6455 as the relay speaks it, with `ws` and by hand
//
// Fragments, masking, ping/pong, the close handshake, UTF-8 checks and the
// 64000-byte limit through the `ws` library; malformed frames, byte-by-byte
// and pipelined input and odd upgrade requests over raw sockets.  Timing:
// every wait is for a frame or a close, with a deadline; nothing is timed.
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { OP, RawSocket, closeCode, connectWs, rawHttp, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { test, useCluster } from './lib/cluster.mjs';
import { sleep } from './lib/wait.mjs';

const RELAY = 18704;
useCluster({ name: 'framing', port: 55444, relayPort: RELAY, conf: ["pg_realtime.allowed_origins = 'https://app.example'"] });

const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`;

const connect = (url = URL, opts) => connectWs(url, opts);

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

  test('a character split between two fragments is valid UTF-8', async () => {
    const c = await connect();
    try {
      const msg = Buffer.from(JSON.stringify({ type: 'subscribe', data: [{ subscriptionId: 'emoji', channels: ['documents\u{1F30D}é'] }] }));
      const cut = msg.indexOf(Buffer.from('\u{1F30D}')) + 2; // inside the 4-byte sequence
      c.ws.send(msg.subarray(0, cut), { fin: false, binary: false });
      c.ws.send(msg.subarray(cut, cut + 3), { fin: false });
      c.ws.send(msg.subarray(cut + 3), { fin: true });
      const ack = await c.take('response');
      assert.deepEqual(ack.data.subscriptions[0].channels, ['documents\u{1F30D}é']);
    } finally {
      await c.close();
    }
  });

  test('invalid UTF-8 in the first fragment closes with 1007 before the message ends', async () => {
    const c = await connect();
    c.ws.send(Buffer.from([0x7b, 0xff]), { fin: false, binary: false });
    assert.equal((await c.waitClosed()).code, 1007);
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

describe('protocol errors in frames sent by hand (close 1002)', () => {
  /* Upgrade by hand, take "connected", send bytes, return the close code the relay sends. */
  async function closeCodeAfter(bytes) {
    const r = await rawWebSocket(RELAY, '/v1/realtime?project=demo');
    try {
      await r.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
      r.write(bytes);
      return closeCode(await r.frame((f) => f.opcode === OP.CLOSE, 3000, 'a close frame'));
    } finally {
      r.destroy();
    }
  }
  const withRsv1 = (frame) => { frame[0] |= 0x40; return frame; };

  test('a frame with a reserved bit set', async () => {
    assert.equal(await closeCodeAfter(withRsv1(wsFrame(OP.TEXT, '{"type":"ping"}'))), 1002);
  });
  test('a control frame longer than 125 bytes', async () => {
    assert.equal(await closeCodeAfter(wsFrame(OP.PING, Buffer.alloc(126))), 1002);
  });
  test('a fragmented control frame', async () => {
    assert.equal(await closeCodeAfter(wsFrame(OP.PING, 'x', { fin: false })), 1002);
  });
  test('a continuation frame with no message started', async () => {
    assert.equal(await closeCodeAfter(wsFrame(OP.CONT, 'x')), 1002);
  });
  test('a new text frame inside a fragmented message', async () => {
    assert.equal(await closeCodeAfter(Buffer.concat([wsFrame(OP.TEXT, '{"ty', { fin: false }), wsFrame(OP.TEXT, 'x')])), 1002);
  });
  test('an unknown opcode', async () => {
    assert.equal(await closeCodeAfter(wsFrame(3, 'x')), 1002);
  });
  test('a close frame with a one-byte payload or a reserved code (1005)', async () => {
    assert.equal(await closeCodeAfter(wsFrame(OP.CLOSE, Buffer.from([3]))), 1002);
    assert.equal(await closeCodeAfter(wsFrame(OP.CLOSE, Buffer.from([0x03, 0xed]))), 1002);
  });
  test('a frame header announcing 2^40 bytes is refused with 1009 at once', async () => {
    const head = Buffer.from([0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert.equal(await closeCodeAfter(head), 1009);
  });

  test('a close frame without a code is answered with 1000', async () => {
    assert.equal(await closeCodeAfter(wsFrame(OP.CLOSE, '')), 1000);
  });

  test('a request and a frame trickled in one byte at a time are understood', async () => {
    const r = await RawSocket.connect(RELAY);
    try {
      const bytes = Buffer.concat([Buffer.from('GET /v1/realtime?project=demo HTTP/1.1\r\nHost: x\r\n' +
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n\r\n'), wsFrame(OP.TEXT, '{"type":"ping"}')]);
      r.sock.setNoDelay(true);
      for (const b of bytes) {
        r.write(Buffer.from([b]));
        await sleep(1);
      }
      await r.until((b) => b.includes('{"type":"pong"}'), 3000, 'the pong');
    } finally {
      r.destroy();
    }
  });

  test('10,000 pipelined pings in one write get 10,000 pongs, in order', async () => {
    const r = await rawWebSocket(RELAY, '/v1/realtime?project=demo');
    try {
      await r.frame((f) => f.opcode === OP.TEXT, 3000, 'connected');
      r.write(Buffer.concat(Array.from({ length: 10000 }, () => wsFrame(OP.TEXT, '{"type":"ping"}'))));
      await r.until(() => r.frames().length >= 10001, 10000, '10,000 pongs');
      const texts = r.frames().slice(1).map((f) => f.payload.toString());
      assert.ok(texts.every((t) => t === '{"type":"pong"}'));
    } finally {
      r.destroy();
    }
  });

  test('frames sent in the same packet as the upgrade request are handled', async () => {
    const r = await RawSocket.connect(RELAY);
    try {
      r.write(Buffer.concat([Buffer.from('GET /v1/realtime?project=demo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      wsFrame(OP.TEXT, '{"type":"ping"}')]));
      await r.until((b) => b.includes('{"type":"pong"}'), 3000, 'the pong');
      const text = r.text();
      assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/, 'RFC 6455 sample key');
      assert.ok(text.indexOf('"connected"') < text.indexOf('"pong"'), 'connected first');
    } finally {
      r.destroy();
    }
  });

  test('a browser-style upgrade (Connection: keep-alive, Upgrade; header case varies) is accepted', async () => {
    const r = await RawSocket.connect(RELAY);
    try {
      r.write('GET /v1/realtime?project=demo HTTP/1.1\r\nhost: x\r\nconnection: keep-alive, Upgrade\r\n' +
        'upgrade: WebSocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n' +
        'Origin: https://app.example\r\n\r\n');
      await r.until((b) => b.includes('"connected"'), 3000, 'connected');
      assert.match(r.text(), /^HTTP\/1\.1 101 /);
      assert.doesNotMatch(r.text(), /Sec-WebSocket-Protocol/i, 'no subprotocol is echoed');
    } finally {
      r.destroy();
    }
  });

  test('a request head over 8 kB gets 431', async () => {
    const r = await rawHttp(RELAY, `GET /v1/realtime?project=demo HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(9000)}\r\n\r\n`);
    assert.equal(r.status, 431);
  });
});
