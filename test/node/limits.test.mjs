// limits.test.mjs - no client can exhaust the relay
//
// Each attack that once stalled or locked out the relay runs against a
// standalone relay while a normal subscriber (from 127.0.0.1; attackers
// connect from other loopback addresses, 127.0.0.2 and up, so that
// per-address limits tell them apart) keeps receiving events.  Expensive
// queries, subscription memory, connections and connection rates per
// address, messages per connection, half-open requests, log lines.
//
// Timing assumption: on a loaded 2-vCPU machine an event reaches the
// normal subscriber within 100 ms of its commit while each attack runs
// (measured from clock_timestamp() stored in the row to the frame's
// arrival).  Before these limits, the query attack made each event cost
// 440 ms of CPU and half-open requests locked everyone out for 13 s; later
// value-less queries (an "or" of isNull) from two addresses cost each event
// tens of ms and took all subscription memory from everyone else.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';

import { RawSocket, WsClient, connectWs, isEvent, parseHttpResponse, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { StandaloneRelay, useCluster } from './lib/cluster.mjs';
import { sleep, waitFor } from './lib/wait.mjs';

const cluster = useCluster({
  name: 'limits', port: 55484,
  setup: (c) => c.sql(`
    CREATE TABLE orders (id text PRIMARY KEY, at double precision DEFAULT extract(epoch FROM clock_timestamp()) * 1000);
    SELECT realtime.track('public.orders', read => ARRAY['any']);`),
  teardown: async () => {
    for (const s of sockets) s.destroy?.() ?? s.terminate?.();
    if (relay) await relay.stop().catch((e) => console.error(e.message));
  },
});

let port = 18790;
let relay;
const sockets = [];
after(() => sockets.forEach((s) => (s.destroy ? s.destroy() : s.terminate())));

/* A fresh standalone relay with these flags (the test limits are relaxed otherwise). */
async function startRelay(flags) {
  if (relay)
    await relay.stop();
  relay = new StandaloneRelay({ port: port++, conninfo: cluster.conninfo, flags });
  await relay.start();
  return relay;
}

const url = (q = '') => `ws://127.0.0.1:${relay.port}/v1/realtime?project=p${q}`;

/* The normal subscriber: every row event. */
async function subscriber() {
  const c = await connectWs(url('&channels[]=documents'));
  sockets.push(c.ws);
  return c;
}

let probes = 0;

/*
 * Insert rows one at a time and return the commit-to-arrival latencies at
 * the normal subscriber, in ms.
 */
async function probe(good, n = 5) {
  const latencies = [];
  for (let i = 0; i < n; i++) {
    const id = `probe-${++probes}`;
    await cluster.sql(`INSERT INTO orders (id) VALUES ('${id}')`);
    const e = await good.inbox.take(isEvent((d) => d.payload.$id === id), 5000, `event ${id}`);
    latencies.push(Math.round(e.receivedAt - e.data.payload.at));
  }
  return latencies;
}

async function assertResponsive(good, what) {
  const l = await probe(good);
  console.log(`latencies ${what}: ${l.join(', ')} ms`);
  assert.ok(Math.max(...l) < 100, `events within 100 ms ${what}: ${l.join(', ')} ms`);
}

/* Open file descriptors this process may have. */
const nofile = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()) || 1024;

describe('subscriptions', () => {
  test('a subscription that costs too much to match is refused (1003); 20 attackers at their budgets slow nobody', async () => {
    // the defaults (max_query_cost 1000, max_query_values 10000) but a connection's
    // total cost raised above 100 x 101, so that max_query_values is the budget reached
    await startRelay(['--max-connection-query-cost', '20000']);
    const good = await subscriber();
    const attackers = [];
    for (let i = 0; i < 20; i++) {
      const a = await connectWs(url(), { localAddress: '127.0.0.2' });
      sockets.push(a.ws);
      attackers.push(a);
    }
    // the attack as it was: 31,000 values in one equal (62 kB, under max_message_size)
    attackers[0].send({ type: 'subscribe', data: [{ channels: ['documents'],
      queries: [JSON.stringify({ method: 'equal', attribute: 'id', values: Array(31000).fill(1) })] }] });
    const e = await attackers[0].take('error');
    assert.equal(e.data.code, 1003);
    assert.match(e.data.message, /cost 31001 to match, more than the limit of 1000/);

    // within the limits: 100 subscriptions of 100 values each per connection
    const q = JSON.stringify({ method: 'equal', attribute: 'id', values: Array.from({ length: 100 }, (_, k) => `value-${k}`) });
    const subs = Array.from({ length: 10 }, () => ({ channels: ['documents'], queries: [q] }));
    await Promise.all(attackers.map(async (a) => {
      for (let i = 0; i < 10; i++)
        await a.subscribe(subs);	// ten messages: one would pass max_message_size
    }));
    // one value more than max_query_values: 1013
    attackers[1].send({ type: 'subscribe', data: [{ subscriptionId: 'more', channels: ['documents'],
      queries: [JSON.stringify({ method: 'equal', attribute: 'id', values: ['x'] })] }] });
    const over = await attackers[1].take('error');
    assert.deepEqual(over.data, { code: 1013, message: 'Too many subscriptions on this connection (limit 100).' });
    attackers[1].send({ type: 'unsubscribe', data: [{ subscriptionId: (await attackers[1].inbox.all.find((m) => m.data?.to === 'subscribe')).data.subscriptions[0].subscriptionId }] });
    await attackers[1].take('response', (m) => m.data.to === 'unsubscribe');
    attackers[1].send({ type: 'subscribe', data: [{ subscriptionId: 'more', channels: ['documents'],
      queries: [JSON.stringify({ method: 'equal', attribute: 'id', values: Array.from({ length: 101 }, (_, k) => `v${k}`) })] }] });
    assert.deepEqual((await attackers[1].take('error')).data,
      { code: 1013, message: 'Too many query values on this connection (limit 10000).' });

    await assertResponsive(good, 'with 20 connections x 100 subscriptions x 100 values matching every event');
  });

  test('value-less queries count too: a connection\'s total cost and an address\'s share of memory are bounded (1013)', async () => {
    // The attack: from two addresses, many connections each subscribing again
    // and again to an "or" of 999 isNull (cost 1000, at max_query_cost, and no
    // query values).  Before these budgets every subscription was accepted:
    // each event cost tens of ms of CPU and one address took all of
    // subscription_memory, so everyone else was refused.  Now each connection
    // holds two (max_connection_query_cost 2000, the default) and each
    // address at most max_subscription_memory_per_ip (768 kB here: more
    // than one but fewer than two per connection, of ~43 kB each), while the
    // relay's 4 MB would have held about 90.
    await startRelay(['--subscription-memory', '4MB', '--max-subscription-memory-per-ip', '768kB']);
    const good = await subscriber();
    const q = JSON.stringify({ method: 'or', values: Array(999).fill({ method: 'isNull', attribute: 'zz' }) });
    const item = { channels: ['documents'], queries: [q] };
    const addresses = ['127.0.0.30', '127.0.0.31'];
    const perAddress = 12;
    const rounds = 6;
    const attackers = [];
    for (const localAddress of addresses) {
      for (let i = 0; i < perAddress; i++) {
        const a = await connectWs(url(), { localAddress });
        sockets.push(a.ws);
        a.address = localAddress;
        attackers.push(a);
      }
    }
    const answer = (a) => a.inbox.take((m) => m.type === 'error' || m.data?.to === 'subscribe', 5000, 'an answer');
    const refusals = {};
    const accepted = new Map(addresses.map((x) => [x, 0]));
    for (let r = 0; r < rounds; r++) {
      attackers.forEach((a) => a.send({ type: 'subscribe', data: [item] }));
      for (const a of attackers) {
        const m = await answer(a);
        a.accepted = (a.accepted ?? 0) + (m.type === 'response');
        if (m.type === 'response')
          accepted.set(a.address, accepted.get(a.address) + 1);
        else {
          const key = `${m.data.code} ${m.data.message}`;
          refusals[key] = (refusals[key] ?? 0) + 1;
        }
      }
    }
    console.log('accepted per address:', Object.fromEntries(accepted), 'refused:', refusals);
    // another user (another address) can still subscribe to the same query
    const other = await connectWs(url(), { localAddress: '127.0.0.32' });
    sockets.push(other.ws);
    other.send({ type: 'subscribe', data: [item] });
    const otherAnswer = await answer(other);
    console.log('another address subscribes:', otherAnswer.type === 'response' ? 'accepted' : JSON.stringify(otherAnswer.data));
    const latencies = await probe(good);
    console.log(`latencies under the attack: ${latencies.join(', ')} ms`);

    assert.ok(attackers.every((a) => a.accepted <= 2), 'two subscriptions of cost 1000 per connection');
    assert.deepEqual(Object.keys(refusals).sort(), [
      '1013 The queries of this connection\'s subscriptions cost 3000 to match, more than the limit of 2000 (one per query and per value); use fewer queries and values.',
      '1013 The subscriptions from this address use all the memory it may have (768 kB); unsubscribe or close other connections first.',
    ]);
    for (const [address, n] of accepted)
      assert.ok(n > perAddress && n < 2 * perAddress, `${address}: ${n} subscriptions of ~43 kB in its 768 kB`);
    assert.equal(otherAnswer.type, 'response', `another address subscribes: ${JSON.stringify(otherAnswer.data)}`);
    assert.ok(Math.max(...latencies) < 100, `events within 100 ms under the attack: ${latencies.join(', ')} ms`);

    // an attacker's connection closing gives its address's share back
    const full = attackers.find((a) => a.address === addresses[0] && a.accepted < 2);
    await attackers.find((a) => a.address === addresses[0] && a !== full).close();
    await waitFor(async () => {
      full.send({ type: 'subscribe', data: [item] });
      return (await answer(full)).type === 'response';
    }, { timeout: 5000, what: 'the closed connection\'s memory given back to its address' });
  });

  test('all subscriptions together stay within subscription_memory (1013); freed memory is usable again', async () => {
    await startRelay(['--subscription-memory', '64kB']);
    const clients = [];
    for (let i = 0; i < 4; i++) {
      const c = await connectWs(url(), { localAddress: `127.0.0.${10 + i}` });
      sockets.push(c.ws);
      clients.push(c);
    }
    const q = JSON.stringify({ method: 'equal', attribute: 'id', values: Array.from({ length: 90 }, (_, k) => `a-rather-long-value-${k}`) });
    let refused = null;
    let made = 0;
    for (let n = 0; n < 100 && !refused; n++) {
      const c = clients[n % clients.length];
      c.send({ type: 'subscribe', data: [{ subscriptionId: `s${n}`, channels: ['documents'], queries: [q] }] });
      const m = await c.inbox.take((x) => x.type === 'error' || x.data?.to === 'subscribe', 3000, 'an answer');
      if (m.type === 'error')
        refused = { c, m, n };
      else
        made++;
    }
    assert.ok(refused, 'the budget ran out');
    assert.ok(made >= 5 && made < 40, `${made} subscriptions of ~4 kB fit in 64 kB`);
    assert.deepEqual(refused.m.data, { code: 1013, message: 'The relay has no memory left for subscriptions; try again later.' });
    // another connection frees its subscriptions by leaving
    const leaving = clients.find((c) => c !== refused.c && c.inbox.all.some((m) => m.data?.to === 'subscribe'));
    await leaving.close();
    await waitFor(async () => {
      refused.c.send({ type: 'subscribe', data: [{ subscriptionId: 'again', channels: ['documents'], queries: [q] }] });
      const m = await refused.c.inbox.take((x) => x.type === 'error' || x.data?.to === 'subscribe', 3000, 'an answer');
      return m.type === 'response';
    }, { timeout: 5000, what: 'memory freed by the closed connection' });
  });
});

describe('connections per address', () => {
  /* An HTTP request head that never ends (a half-open request). */
  async function halfOpen(localAddress) {
    const r = await RawSocket.connect(relay.port, { localAddress, timeout: 10000 });
    sockets.push(r.sock);
    r.write('GET /v1/realtime?project=p HTTP/1.1\r\nHost: x\r\n');
    return r;
  }

  test('max_connections_per_ip: the next connection from that address gets 429; others are served', async () => {
    await startRelay(['--max-connections-per-ip', '10']);
    const mine = [];
    for (let i = 0; i < 10; i++)
      mine.push(await rawWebSocket(relay.port, '/v1/realtime?project=p', '', { localAddress: '127.0.0.2' }));
    sockets.push(...mine.map((r) => r.sock));
    const r = await RawSocket.connect(relay.port, { localAddress: '127.0.0.2' });
    await r.waitEnd(3000, 'the relay to refuse the 11th connection');
    const res = parseHttpResponse(r.text());
    assert.equal(res.status, 429);
    assert.deepEqual(JSON.parse(res.body), { message: 'too many connections from this address', code: 429, type: 1013 });
    const good = await subscriber();
    await assertResponsive(good, 'from another address');
    // a closed connection frees its slot
    mine[0].destroy();
    await waitFor(async () => {
      try {
        const again = await rawWebSocket(relay.port, '/v1/realtime?project=p', '', { localAddress: '127.0.0.2' });
        sockets.push(again.sock);
        return true;
      } catch {
        return false;
      }
    }, { timeout: 3000, what: 'a slot for 127.0.0.2 again' });
  });

  test('max_connects_per_minute (Appwrite: 128): connecting too often from one address gets 429', async () => {
    await startRelay(['--max-connects-per-minute', '20']);
    const statuses = [];
    for (let i = 0; i < 25; i++) {
      const r = await RawSocket.connect(relay.port, { localAddress: '127.0.0.3' });
      r.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
      await r.waitEnd(3000, 'an answer');
      statuses.push(parseHttpResponse(r.text()).status);
      r.destroy();
    }
    assert.deepEqual(statuses, [...Array(20).fill(200), ...Array(5).fill(429)]);
    const good = await subscriber();
    await assertResponsive(good, 'from another address');
  });

  test('half-open requests from one address, then from many, lock nobody out', async () => {
    const count = Math.min(10000, Math.floor((nofile - 400) / 2));
    await startRelay(['--max-connections', '1000', '--max-connections-per-ip', '256', '--handshake-timeout', '30s',
      '--max-log-lines-per-minute', '30']);
    // one address: 256 wait for their head, the rest are refused at once
    const refused = [];
    const pending = [];
    for (let i = 0; i < count; i += 500) {
      const batch = await Promise.all(Array.from({ length: Math.min(500, count - i) }, () =>
        halfOpen('127.0.0.4').catch(() => null)));
      pending.push(...batch.filter(Boolean));
    }
    await waitFor(() => {
      refused.length = 0;
      refused.push(...pending.filter((r) => r.sock.destroyed && r.text().startsWith('HTTP/1.1 429')));
      return refused.length >= count - 256;
    }, { timeout: 20000, what: () => `${count - 256} refusals (${refused.length} so far)` });
    let good = await subscriber();
    await assertResponsive(good, `with ${count} half-open requests from one address`);
    await good.close();

    // many addresses (as a botnet would): 900 more half-open requests fill the relay
    for (let a = 0; a < 90; a++)
      await Promise.all(Array.from({ length: 10 }, () => halfOpen(`127.0.1.${a + 1}`)));
    // full (1000): a new client still gets in; the oldest half-open request gives way
    good = await subscriber();
    await assertResponsive(good, 'with the relay full of half-open requests');
    // the oldest half-open requests (the first address's) were dropped, without an answer
    const dropped = pending.filter((r) => r.sock.destroyed && r.data.length === 0);
    assert.ok(dropped.length > 0, 'the oldest half-open requests gave way');
  });
});

describe('messages and log lines', () => {
  test('max_messages_per_minute (Appwrite: 32): messages beyond get 1013 and are dropped; the connection stays', async () => {
    await startRelay(['--max-messages-per-minute', '32']);
    const c = await connectWs(url(), { localAddress: '127.0.0.7' });
    sockets.push(c.ws);
    for (let i = 0; i < 40; i++)
      c.send({ type: 'ping' });
    const answers = [];
    for (let i = 0; i < 40; i++)
      answers.push(await c.inbox.take(() => true, 3000, `answer ${i + 1} of 40`));
    assert.equal(answers.filter((m) => m.type === 'pong').length, 32);
    const errors = answers.filter((m) => m.type === 'error');
    assert.equal(errors.length, 8);
    assert.deepEqual(errors[0].data, { code: 1013, message: 'Too many messages: at most 32 a minute.' });
    assert.equal(c.ws.readyState, c.ws.OPEN);
    const good = await subscriber();
    await assertResponsive(good, 'next to a chatty client');
  });

  test('max_log_lines_per_minute: a misbehaving address writes a few log lines, not thousands', async () => {
    await startRelay(['--max-log-lines-per-minute', '5']);
    const good = await subscriber();
    // 300 clients from one address, each breaking the protocol (an unmasked frame: close 1002)
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const r = await rawWebSocket(relay.port, '/v1/realtime?project=p', '', { localAddress: '127.0.0.8' });
        r.write(wsFrame(1, '{"type":"ping"}', { mask: false }));
        await r.waitEnd(3000, 'the relay to close');
        r.destroy();
      }));
    }
    const bad = await rawWebSocket(relay.port, '/v1/realtime?project=p', '', { localAddress: '127.0.0.9' });
    bad.write(wsFrame(1, '{"type":"ping"}', { mask: false }));
    await bad.waitEnd(3000, 'the relay to close');
    await waitFor(() => relay.log.includes('127.0.0.9'), { timeout: 3000, what: 'the other address\'s line' });
    const lines = relay.log.split('\n').filter((l) => l.includes('client 127.0.0.8:'));
    assert.ok(lines.length >= 5 && lines.length <= 6, `${lines.length} lines about 127.0.0.8:\n${lines.join('\n')}`);
    await assertResponsive(good, 'after the protocol errors');
  });
});
