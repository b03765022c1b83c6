// security.test.mjs - events no one can read, forge or turn against the database
//
// The attacks of README "Security", each against the worker relay: a role
// with no grants LISTENs (it sees ciphertext), forges notifications, replays
// real ones (inline and pointers, from another session and from the sender
// itself, after a reconnect), moves them to another database or channel,
// sends under a retired key, sets pg_realtime.database_id for itself with
// ALTER ROLE; and a database owner plants an operator on
// the relay's search_path.  The relay of the first cluster runs as a role
// with only realtime.grant_relay()'s grants, as README recommends; the
// escalation needs a superuser relay (the default) to mean anything.
//
// Timing: each forged or replayed notification is followed by a real
// event, and a subscriber must get the real one first; since the relay
// handles notifications in order, nothing later can come before.  Counters
// are waited for, never slept on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { health, useCluster, waitRelayReady } from './lib/cluster.mjs';
import { OP, WsClient, closeCode, curlSse, isEvent, rawWebSocket, wsFrame } from './lib/clients.mjs';
import { nextNotification, session } from './lib/pg.mjs';
import { Channel, Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18760;
const SECRET = 'tops3cret-e7f1';
const realtimes = [];
const sessions = [];
const TABLE = `
  CREATE TABLE orders (id int PRIMARY KEY, status text, secret text);
  SELECT realtime.track('public.orders', read => ARRAY['any']);`;

const cluster = useCluster({
  name: 'security', port: 55480, relayPort: RELAY, waitReady: false,
  conf: ["pg_realtime.role = 'rt_relay'", "pg_realtime.databases = 'postgres, other'",
    'pg_realtime.reconnect_max_delay = 300ms', 'pg_realtime.inline_payload_limit = 2000'],
  setup: async (c) => {
    // the relay's role exists only now: the worker retries until it can
    await c.sql(`
      CREATE ROLE rt_relay LOGIN;
      SELECT realtime.grant_relay('rt_relay');
      CREATE ROLE mallory LOGIN;
      CREATE ROLE writer LOGIN;
      ${TABLE}
      GRANT SELECT, INSERT, UPDATE ON orders TO writer;
      CREATE DATABASE other;`);
    await c.sql(`CREATE EXTENSION pg_realtime; SELECT realtime.grant_relay('rt_relay'); ${TABLE}`, { database: 'other' });
    await waitRelayReady(RELAY, { timeout: 20000 });
  },
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
    for (const s of sessions) await s.end().catch(() => {});
  },
});

async function open(opts) {
  const s = await session(cluster, opts);
  sessions.push(s);
  return s;
}

/* A WebSocket, an SSE stream and the SDK, subscribed to the orders of database postgres. */
async function subscribers() {
  const channel = 'databases.postgres.collections.orders.documents';
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=${channel}`);
  await ws.take('connected');
  const sse = curlSse(`http://127.0.0.1:${RELAY}/v1/realtime?channels[]=${channel}`);
  await sse.records.take(() => true, 5000, 'the SSE stream to open');
  const rt = new Realtime(new Client().setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('p'));
  realtimes.push(rt);
  const { events: sdk } = await subscribeAndWait(rt, Channel.database('postgres').collection('orders').document());
  return {
    /* the next event on each of the three: their payload ids must all be id */
    async expectNext(id, what) {
      const w = await ws.inbox.take(isEvent(), 5000, `${what} on the WebSocket`);
      const s = await sse.event(() => true, 5000);
      const k = await sdk.take(() => true, 5000, `${what} through the SDK`);
      assert.deepEqual([w.data.payload.id, s.json.data.payload.id, k.payload.id], [id, id, id],
        `the next event on WebSocket, SSE and SDK is ${what}`);
      return w.data;
    },
    async close() {
      sse.kill();
      await ws.close();
      await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
    },
  };
}

/* Wait until the relay counted n more drops of reason (from before). */
async function dropped(reason, before, n = 1) {
  return waitFor(async () => {
    const h = await health(RELAY);
    return h.events.dropped[reason] >= before.events.dropped[reason] + n ? h : null;
  }, { what: `${n} more notifications dropped as ${reason}` });
}

let nextId = 1;

test('a role with no grants that LISTENs gets ciphertext; subscribers get the row', async () => {
  const mallory = await open({ user: 'mallory' });
  await mallory.query('LISTEN pg_realtime');
  const subs = await subscribers();
  try {
    const id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'paid', '${SECRET}')`);
    const n = await nextNotification(mallory);
    assert.match(n.payload, /^rt1:[A-Za-z0-9+/]+=*$/, 'a sealed payload');
    for (const clear of [SECRET, 'orders', 'paid', '"payload"', 'databases.'])
      assert.ok(!n.payload.includes(clear), `the payload does not show ${clear}`);
    await assert.rejects(mallory.query('SELECT * FROM realtime.open($1, $2)', [n.payload, n.processId]),
      /permission denied/, 'mallory may not open it');
    await assert.rejects(mallory.query('SELECT key FROM realtime.keys'), /permission denied/);
    const e = await subs.expectNext(id, 'the row');
    assert.equal(e.payload.secret, SECRET, 'the relay opened it');
  } finally {
    await subs.close();
  }
});

test('a backend service opens events with realtime.open(), granted to its role', async () => {
  await cluster.sql(`CREATE ROLE service LOGIN;
    GRANT USAGE ON SCHEMA realtime TO service;
    GRANT EXECUTE ON FUNCTION realtime.open(text, integer, text) TO service;`);
  const service = await open({ user: 'service' });
  await service.query('LISTEN pg_realtime');
  const writer = await open({ user: 'writer' });
  const a = nextId++;
  const b = nextId++;
  // one transaction, two rows, one rolled-back savepoint: one notification
  await writer.query(`BEGIN; INSERT INTO orders VALUES (${a}, 'a', null); SAVEPOINT s;
    INSERT INTO orders VALUES (999, 'rolled back', null); ROLLBACK TO s;
    UPDATE orders SET status = 'b' WHERE id = ${a}; INSERT INTO orders VALUES (${b}, 'c', null); COMMIT`);
  const n = await nextNotification(service);
  assert.equal(n.processId, writer.pid);
  const { rows } = await service.query('SELECT seq, part, event FROM realtime.open($1, $2)', [n.payload, n.processId]);
  assert.deepEqual(rows.map((r) => [r.event.action, r.event.documentId, r.event.payload.status]),
    [['create', String(a), 'a'], ['update', String(a), 'b'], ['create', String(b), 'c']]);
  assert.ok(rows.every((r) => r.part === 0 && r.seq === rows[0].seq));
  await assert.rejects(service.query('SELECT * FROM realtime.open($1, $2)', [n.payload, n.processId + 1]),
    /does not open/, 'the sender\'s PID is bound');
  await assert.rejects(service.query(`SELECT * FROM realtime.open($1, $2, 'other')`, [n.payload, n.processId]),
    /does not open/, 'the channel is bound');
});

test('forged notifications reach no subscriber: plaintext, made-up sealed, unknown key, a pointer', async () => {
  const mallory = await open({ user: 'mallory' });
  const subs = await subscribers();
  try {
    const before = await health(RELAY);
    const forged = JSON.stringify({
      v: 1, event: 'databases.postgres.collections.orders.documents.666.create', action: 'create',
      databaseId: 'postgres', collectionId: 'orders', documentId: '666', read: ['any'],
      payload: { $id: '666', $collectionId: 'orders', $databaseId: 'postgres', $createdAt: null, $updatedAt: null,
        $permissions: [], id: 666, status: 'forged' }, seq: 1,
    });
    const sealedLooking = (keyId) => {
      const bin = Buffer.alloc(200, 7);
      bin.writeUInt32BE(keyId, 0);
      return `rt1:${bin.toString('base64')}`;
    };
    await mallory.query('SELECT pg_notify($1, $2)', ['pg_realtime', forged]);
    await mallory.query('SELECT pg_notify($1, $2)', ['pg_realtime', '{"v":1,"large":1,"bytes":10,"seq":1}']);
    await mallory.query('SELECT pg_notify($1, $2)', ['pg_realtime', sealedLooking(1)]);
    await mallory.query('SELECT pg_notify($1, $2)', ['pg_realtime', sealedLooking(4242)]);
    const id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'real', null)`);
    await subs.expectNext(id, 'the real event, after the forgeries');
    const h = await dropped('unsealed', before, 2);
    assert.ok(h.events.dropped.forged >= before.events.dropped.forged + 1, 'the made-up sealed one');
    assert.ok(h.events.dropped.unknown_key >= before.events.dropped.unknown_key + 1, 'the unknown key');
    assert.equal(h.status, 'ok');
  } finally {
    await subs.close();
  }
});

test('replayed notifications are dropped: by another session, by the sender, a pointer, after a reconnect', async () => {
  const listener = await open();
  await listener.query('LISTEN pg_realtime');
  const writer = await open({ user: 'writer' });
  const mallory = await open({ user: 'mallory' });
  const subs = await subscribers();
  try {
    const small = nextId++;
    await writer.query(`INSERT INTO orders VALUES (${small}, 'once', null)`);
    const inline = await nextNotification(listener);
    await subs.expectNext(small, 'the original');
    // a large event: the notification is a sealed pointer
    const big = nextId++;
    await writer.query(`INSERT INTO orders VALUES (${big}, 'big', repeat('x', 5000))`);
    const pointer = await nextNotification(listener);
    const e = await subs.expectNext(big, 'the original large event');
    assert.equal(e.payload.secret.length, 5000);

    let before = await health(RELAY);
    for (const n of [inline, pointer]) {
      await mallory.query('SELECT pg_notify($1, $2)', ['pg_realtime', n.payload]);   // another PID: does not open
      await writer.query('SELECT pg_notify($1, $2)', ['pg_realtime', n.payload]);    // the sender itself: seen before
    }
    let id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'after the replays', null)`);
    await subs.expectNext(id, 'the next real event, not a replay');
    let h = await dropped('replayed', before, 2);
    assert.ok(h.events.dropped.forged >= before.events.dropped.forged + 2, 'replays from another session');

    // the relay's connection is cut: its memory of senders goes, the floor stays
    before = h;
    await cluster.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = 'pg_realtime' AND datname = 'postgres'`);
    await waitRelayReady(RELAY, { timeout: 10000, since: (x) => x.database.reconnects > before.database.reconnects });
    await writer.query('SELECT pg_notify($1, $2)', ['pg_realtime', inline.payload]);
    id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'after the reconnect', null)`);
    await subs.expectNext(id, 'the next real event after the reconnect');
    await dropped('replayed', before, 1);
  } finally {
    await subs.close();
  }
});

test('a notification moved to another channel or database does not open', async () => {
  // a superuser session seals for channel "elsewhere", then sends it on the
  // relay's channel itself: same sender, new sequence, wrong channel
  const su = await open();
  await su.query("SET pg_realtime.channel = 'elsewhere'; LISTEN elsewhere");
  const inOther = await open({ database: 'other' });
  await inOther.query('LISTEN pg_realtime');
  const subs = await subscribers();
  try {
    const before = await health(RELAY);
    await su.query(`INSERT INTO orders VALUES (${nextId++}, 'sealed for elsewhere', null)`);
    const elsewhere = await nextNotification(su, 'elsewhere');
    await su.query('SELECT pg_notify($1, $2)', ['pg_realtime', elsewhere.payload]);
    await inOther.query(`INSERT INTO orders VALUES (1, 'in database other', null)`);
    const fromOther = await nextNotification(inOther);
    await su.query('SELECT pg_notify($1, $2)', ['pg_realtime', fromOther.payload]);
    const id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'real', null)`);
    await subs.expectNext(id, 'the real event, nothing moved');
    await dropped('forged', before, 2);
  } finally {
    await subs.close();
  }
});

test('events naming another database than their own are dropped, even sealed', async () => {
  // a superuser may set pg_realtime.database_id; a session that names
  // another database's id speaks for it no more than a forger would
  const su = await open();
  await su.query("SET pg_realtime.database_id = 'other'");
  const subs = await subscribers();
  try {
    const before = await health(RELAY);
    await su.query(`INSERT INTO orders VALUES (${nextId++}, 'claims database other', null)`);
    const id = nextId++;
    await cluster.sql(`INSERT INTO orders VALUES (${id}, 'real', null)`);
    await subs.expectNext(id, 'the event of this database');
    await dropped('wrong_database', before, 1);
  } finally {
    await subs.close();
  }
});

test('a role granted SET on pg_realtime.database_id cannot make its events speak for another database', async () => {
  // PostgreSQL 15's GRANT SET ON PARAMETER lets writer set the parameter
  // for itself (ALTER ROLE, for every database or IN DATABASE); the relay
  // takes only ALTER DATABASE's, for the database the event came from
  await cluster.sql('GRANT SET ON PARAMETER pg_realtime.database_id TO writer');
  const channel = 'databases.other.collections.orders.documents';
  const ws = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=p&channels[]=${channel}`);
  try {
    await ws.take('connected');
    for (const scope of ['', ' IN DATABASE postgres']) {
      const admin = await open({ user: 'writer' });
      await admin.query(`ALTER ROLE writer${scope} SET pg_realtime.database_id = 'other'`);
      // a rotation makes the relay read the keys, and the ids, again before
      // what follows: it knows of the setting when the event comes
      await cluster.sql('SELECT realtime.rotate_key()');
      const w = await open({ user: 'writer' }); // role settings apply at login
      assert.equal((await w.query("SELECT current_setting('pg_realtime.database_id') AS id")).rows[0].id, 'other');
      const before = await health(RELAY);
      await w.query(`INSERT INTO orders VALUES (${nextId++}, 'claims database other${scope}', null)`);
      await dropped('wrong_database', before, 1);
      await admin.query(`ALTER ROLE writer${scope} RESET pg_realtime.database_id`);
      // the relay is done with it: what comes next for "other" is the real event
      const id = nextId++;
      await cluster.sql(`INSERT INTO orders VALUES (${id}, 'real', null)`, { database: 'other' });
      const e = await ws.inbox.take(isEvent(), 5000, 'the event of database other');
      assert.equal(e.data.payload.id, id, `the event of database other, not writer's (ALTER ROLE${scope})`);
    }
  } finally {
    await ws.close();
    await cluster.sql(`ALTER ROLE writer RESET pg_realtime.database_id;
      ALTER ROLE writer IN DATABASE postgres RESET pg_realtime.database_id;
      REVOKE SET ON PARAMETER pg_realtime.database_id FROM writer`);
  }
});

test('rotate_key(): events in flight under the old key open during the grace, not after grace 0', async () => {
  const writer = await open();
  const subs = await subscribers();
  try {
    // the writer's session has the current key cached, then a transaction
    // of it starts before a rotation and commits after it
    let id = nextId++;
    await writer.query(`INSERT INTO orders VALUES (${id}, 'warm', null)`);
    await subs.expectNext(id, 'the warm-up event');
    const inFlight = nextId++;
    await writer.query(`BEGIN; INSERT INTO orders VALUES (${inFlight}, 'sealed with the old key', null)`);
    await cluster.sql(`SELECT realtime.rotate_key()`);
    await writer.query('COMMIT');
    await subs.expectNext(inFlight, 'the event sealed with the old key, within the grace');
    id = nextId++;
    await writer.query(`INSERT INTO orders VALUES (${id}, 'with the new key', null)`);
    await subs.expectNext(id, 'an event sealed with the new key');

    // grace 0: the old key is gone at once, and what it sealed too
    const before = await health(RELAY);
    const lost = nextId++;
    await writer.query(`BEGIN; INSERT INTO orders VALUES (${lost}, 'sealed with a retired key', null)`);
    await cluster.sql(`SELECT realtime.rotate_key(grace => '0')`);
    await writer.query('COMMIT');
    id = nextId++;
    await writer.query(`INSERT INTO orders VALUES (${id}, 'after the retirement', null)`);
    await subs.expectNext(id, 'the next event, not the one sealed with the retired key');
    await dropped('unknown_key', before, 1);
  } finally {
    await subs.close();
  }
});

test('a crowd of clients breaking the protocol gets at most 30 log lines', async () => {
  // each is closed with 1002 and would log a line: 60 of them in a burst, from
  // one address, which max_log_lines_per_minute (30 by default) holds to 30
  const lines = () => (cluster.serverLog().match(/pg_realtime: client [^:]+:\d+: .*closing with 1002/g) ?? []).length;
  const before = lines();
  const clients = await Promise.all(Array.from({ length: 60 }, () =>
    rawWebSocket(RELAY, '/v1/realtime?project=p&channels[]=documents')));
  try {
    for (const c of clients)
      c.write(wsFrame(OP.TEXT, 'not masked', { mask: false }));
    for (const c of clients)
      assert.equal(closeCode(await c.frame((f) => f.opcode === OP.CLOSE, 5000, 'the close frame')), 1002);
    // the relay logs a client's line before it queues the close frame
    const logged = lines() - before;
    assert.ok(logged >= 1 && logged <= 30, `${logged} lines about 60 clients`);
  } finally {
    for (const c of clients) c.destroy();
  }
});

describe('a database owner plants an operator on the relay\'s search_path', () => {
  const RELAY2 = 18761;
  const victim = useCluster({
    name: 'searchpath', port: 55481, relayPort: RELAY2, waitReady: false,
    conf: ["pg_realtime.databases = 'victim'", 'pg_realtime.reconnect_max_delay = 300ms',
      'pg_realtime.inline_payload_limit = 1000'],
    setup: async (c) => {
      await c.sql(`CREATE ROLE dbowner LOGIN; CREATE DATABASE victim OWNER dbowner;`);
      await c.sql(`CREATE EXTENSION pg_realtime; ${TABLE} GRANT INSERT ON orders TO dbowner;`, { database: 'victim' });
      await waitRelayReady(RELAY2, { timeout: 20000 });
    },
  });

  test('ALTER DATABASE ... SET search_path = evil, pg_catalog and an evil "=" on bigint run nothing in the relay', async () => {
    // everything as the owner, who is no superuser
    const owner = await session(victim, { user: 'dbowner', database: 'victim' });
    try {
      await owner.query(`
        CREATE SCHEMA evil;
        CREATE TABLE evil.ran (who text);
        CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO evil.ran VALUES (current_user);
          BEGIN
            EXECUTE 'ALTER ROLE dbowner SUPERUSER';
          EXCEPTION WHEN OTHERS THEN NULL;
          END;
          RETURN $1 OPERATOR(pg_catalog.=) $2;
        END $$;
        CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
        ALTER DATABASE victim SET search_path = evil, pg_catalog;`);
      // new sessions of the relay get the database's settings
      const before = await health(RELAY2);
      await victim.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'pg_realtime' AND datname = 'victim'`);
      await waitRelayReady(RELAY2, { timeout: 10000, since: (x) => x.database.reconnects > before.database.reconnects });

      const ws = await WsClient.open(`ws://127.0.0.1:${RELAY2}/v1/realtime?project=p&channels[]=documents`);
      try {
        await ws.take('connected');
        // a large event: the relay fetches it by id, and purges old ones
        await owner.query(`INSERT INTO orders VALUES (1, 'large', repeat('L', 4000))`);
        const e = await ws.inbox.take(isEvent(), 5000, 'the large event');
        assert.equal(e.data.payload.secret.length, 4000);
      } finally {
        await ws.close();
      }
      const ran = await victim.sql('SELECT count(*) FROM evil.ran', { database: 'victim' });
      assert.equal(ran, '0', 'the evil operator never ran in the relay\'s session');
      const su = await victim.sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'");
      assert.equal(su, 'f', 'the database owner is no superuser');
    } finally {
      await owner.end();
    }
  });
});
