// authfn.test.mjs - opaque session tokens checked by the application's own SQL function
//
// pg_realtime.auth_function = 'app.session_claims' looks the token up in a
// sessions table and returns the claims a JWT would carry.  Set up as
// README says: the function is SECURITY DEFINER, owned by the application's
// role app, and called as rt_auth (pg_realtime.auth_conninfo), a login with
// nothing but EXECUTE on it.  The relay calls it on a connection of its own
// with search_path pinned, caches the answers for auth_cache_ttl (1 s
// here), gives up after auth_timeout (1 s here), and never stops serving
// others while it waits.  The last tests are the function's owner trying
// to run SQL with the relay's rights: the relay does not call a function
// that a role less trusted than the one it runs as could change.
//
// Timing: the latency bound (an event reaches a subscriber within 100 ms
// while the function hangs) holds on a loaded 2-vCPU machine; it is
// measured from the row's commit (clock_timestamp() in the row) to receipt.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { connectWs, isEvent } from './lib/clients.mjs';
import { StandaloneRelay, useCluster } from './lib/cluster.mjs';
import { Channel, Client, Realtime, subscribeAndWait } from './lib/sdk.mjs';
import { sleep, waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18786;
const cluster = useCluster({
  name: 'authfn', port: 55482, relayPort: RELAY,
  conf: ["pg_realtime.auth_function = 'app.session_claims'", "pg_realtime.auth_conninfo = 'user=rt_auth'",
    'pg_realtime.auth_cache_ttl = 1s', 'pg_realtime.auth_timeout = 1s', 'pg_realtime.reconnect_max_delay = 300ms'],
  setup: async (c) => {
    await c.sql(`
    CREATE ROLE app;
    CREATE ROLE rt_auth LOGIN;
    CREATE SCHEMA app AUTHORIZATION app;
    SET ROLE app;
    CREATE TABLE app.sessions (secret text PRIMARY KEY, user_id text NOT NULL,
                               teams text[] NOT NULL DEFAULT '{}', expires_at timestamptz NOT NULL);
    CREATE FUNCTION app.session_claims(token text) RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
    BEGIN
      RAISE LOG 'session_claims(%)', token;  -- counted by the tests
      IF token LIKE 'slow-%' THEN PERFORM pg_catalog.pg_sleep(5); END IF;
      IF token = 'broken' THEN RAISE EXCEPTION 'the sessions table is broken'; END IF;
      IF token = 'search-path' THEN  -- tells the caller its search_path, as a label
        RETURN jsonb_build_object('sub', 'path', 'labels',
          jsonb_build_array(translate(current_setting('search_path'), ', _', '')));
      END IF;
      RETURN (SELECT jsonb_build_object('sub', s.user_id, 'teams', to_jsonb(s.teams),
                                        'exp', extract(epoch FROM s.expires_at)::bigint)
              FROM app.sessions s WHERE s.secret = token AND s.expires_at > now());
    END $$;
    REVOKE EXECUTE ON FUNCTION app.session_claims(text) FROM PUBLIC;
    GRANT USAGE ON SCHEMA app TO rt_auth;
    GRANT EXECUTE ON FUNCTION app.session_claims(text) TO rt_auth;
    RESET ROLE;
    INSERT INTO app.sessions VALUES ('s-alice', 'alice', '{t1}', now() + interval '1 hour');
    CREATE TABLE notes (id text PRIMARY KEY, perms text[], at double precision DEFAULT
      extract(epoch FROM clock_timestamp()) * 1000);
    SELECT realtime.track('public.notes', permissions_column => 'perms');`);
    // the relay connected before rt_auth and the function existed: it retries
    const c1 = await connectWs(URL);
    try {
      await waitFor(async () => (await authenticate(c1, 's-alice')).type === 'response',
        { timeout: 15000, interval: 200, what: 'the relay to call the function as rt_auth' });
    } finally {
      await c1.close();
    }
  },
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
  },
});
const realtimes = [];
const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`;

/* Authenticate a `ws` client with token; the answer (response or error). */
async function authenticate(c, token, ms = 5000) {
  c.send({ type: 'authentication', data: { session: token } });
  return c.inbox.take((m) => m.type === 'error' || m.data?.to === 'authentication', ms, `the answer for ${token}`);
}

/* How often the function was called for token (it logs each call). */
const calls = (token) => cluster.serverLog().split(`session_claims(${token})`).length - 1;

describe('sessions from the application\'s tables', () => {
  test('the SDK with setSession(<session secret>) gets the rows of its user and team', async () => {
    const client = new Client().setEndpoint(`http://127.0.0.1:${RELAY}/v1`)
      .setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('demo').setSession('s-alice');
    const rt = new Realtime(client);
    realtimes.push(rt);
    const { events } = await subscribeAndWait(rt, Channel.database('postgres').collection('notes').document());
    const auth = rt.socket.inbox.all.find((m) => m.data?.to === 'authentication');
    assert.deepEqual(auth?.data, { to: 'authentication', success: true, user: { $id: 'alice' } });
    await cluster.sql(`INSERT INTO notes (id, perms) VALUES ('f-1', '{"read(\\"user:bob\\")"}'),
      ('f-2', '{"read(\\"user:alice\\")"}'), ('f-3', '{"read(\\"team:t1\\")"}')`);
    assert.equal((await events.take()).payload.$id, 'f-2');
    assert.equal((await events.take()).payload.$id, 'f-3');
    await rt.disconnect();
  });

  test('unknown and expired sessions are refused; answers are cached for auth_cache_ttl', async () => {
    const c = await connectWs(URL);
    try {
      let a = await authenticate(c, 's-nobody');
      assert.deepEqual(a.data, { code: 1003, message: 'Session is not valid: the session is not valid.' });
      await cluster.sql(`INSERT INTO app.sessions VALUES ('s-old', 'olga', '{}', now() - interval '1 minute')`);
      a = await authenticate(c, 's-old');
      assert.equal(a.type, 'error', 'the function does not return expired sessions');

      await cluster.sql(`INSERT INTO app.sessions VALUES ('s-bob', 'bob', '{}', now() + interval '1 hour')`);
      for (let i = 0; i < 5; i++)
        assert.equal((await authenticate(c, 's-bob')).data.user.$id, 'bob');
      assert.equal(calls('s-bob'), 1, 'five answers, one call: the rest came from the cache');
      // logged out: still valid from the cache until the TTL passes
      await cluster.sql(`DELETE FROM app.sessions WHERE secret = 's-bob'`);
      assert.equal((await authenticate(c, 's-bob')).type, 'response');
      await waitFor(async () => (await authenticate(c, 's-bob')).type === 'error',
        { timeout: 5000, interval: 200, what: 'the cached answer to expire (auth_cache_ttl = 1s)' });
    } finally {
      await c.close();
    }
  });

  test('the function runs on a connection of the relay\'s own, search_path pinned to pg_catalog, pg_temp', async () => {
    const apps = await cluster.sql(`SELECT application_name || ' as ' || usename FROM pg_stat_activity
                                    WHERE application_name LIKE 'pg_realtime%' ORDER BY 1`);
    assert.deepEqual(apps.split('\n'), ['pg_realtime as postgres', 'pg_realtime auth as rt_auth']);
    const c = await connectWs(URL);
    try {
      const a = await authenticate(c, 'search-path');
      assert.equal(a.data.user.$id, 'path');
      await c.subscribe([{ channels: ['documents'] }]);
      await cluster.sql(`INSERT INTO notes (id, perms) VALUES ('sp-1', '{"read(\\"label:pgcatalogpgtemp\\")"}')`);
      assert.equal((await c.inbox.take(isEvent())).data.payload.$id, 'sp-1', 'the label its search_path gave');
    } finally {
      await c.close();
    }
  });

  test('a function that fails gets the client an error, and the next session still works', async () => {
    const c = await connectWs(URL);
    try {
      const a = await authenticate(c, 'broken');
      assert.deepEqual(a.data, { code: 1003, message: 'Session is not valid: the session could not be checked; try again later.' });
      assert.match(cluster.serverLog(), /auth function app.session_claims: failed: ERROR:  the sessions table is broken/);
      assert.equal((await authenticate(c, 's-alice')).data.user.$id, 'alice');
    } finally {
      await c.close();
    }
  });

  test('messages after an authentication wait for its answer: they are handled in order', async () => {
    const c = await connectWs(URL);
    try {
      await cluster.sql(`INSERT INTO app.sessions VALUES ('s-order', 'oscar', '{}', now() + interval '1 hour')`);
      c.send({ type: 'authentication', data: { session: 's-order' } });
      c.send({ type: 'subscribe', data: [{ channels: ['documents'] }] });
      c.send({ type: 'ping' });
      const kinds = [];
      for (let i = 0; i < 3; i++) {
        const m = await c.inbox.take(() => true, 5000, 'three answers');
        kinds.push(m.data?.to ?? m.type);
      }
      assert.deepEqual(kinds, ['authentication', 'subscribe', 'pong']);
    } finally {
      await c.close();
    }
  });
});

describe('a function that hangs', () => {
  test('its clients get an error after auth_timeout; others are served meanwhile, events within 100 ms', async () => {
    const good = await connectWs(URL);
    await good.subscribe([{ channels: ['documents'] }]);
    const waiting = await Promise.all(Array.from({ length: 5 }, () => connectWs(URL)));
    try {
      const t0 = Date.now();
      const answers = waiting.map((c, i) => authenticate(c, `slow-${i}`, 10000));
      // while the function sleeps: events, and a JWT user, are served at once
      const latencies = [];
      for (let i = 0; i < 10; i++) {
        await cluster.sql(`INSERT INTO notes (id, perms) VALUES ('h-${i}', '{"read(\\"any\\")"}')`);
        const e = await good.inbox.take(isEvent(), 3000, `event h-${i}`);
        latencies.push(e.receivedAt - e.data.payload.at);
        await sleep(50);
      }
      assert.ok(Math.max(...latencies) < 100, `commit-to-receipt latencies ${latencies.join(', ')} ms`);
      for (const a of await Promise.all(answers)) {
        assert.equal(a.type, 'error');
        assert.match(a.data.message, /could not be checked/);
      }
      const waited = Date.now() - t0;
      assert.ok(waited < 5000, `answered after ${waited} ms, not after the function's 5 s sleep`);
      // the relay made a new connection: sessions work again
      assert.equal((await authenticate(waiting[0], 's-alice')).data.user.$id, 'alice');
    } finally {
      await good.close();
      await Promise.all(waiting.map((c) => c.close()));
    }
  });
});

describe('the function\'s owner cannot borrow the relay\'s rights', () => {
  // README's example before auth_conninfo: a SECURITY DEFINER function owned
  // by the application's role app (no superuser), called on the relay's own
  // login.  app may replace it at any time with one that is not SECURITY
  // DEFINER, which would then run as the relay's role.
  const RELAY_B = 18787;
  const STANDALONE = 18788;
  const owned = useCluster({
    name: 'authfn-owner', port: 55483, relayPort: RELAY_B,
    conf: ["pg_realtime.auth_function = 'app.session_claims'", 'pg_realtime.reconnect_max_delay = 300ms'],
    setup: (c) => c.sql(`
      CREATE ROLE app LOGIN;
      CREATE ROLE rt_relay LOGIN;
      SELECT realtime.grant_relay('rt_relay');
      CREATE ROLE rt_auth LOGIN;
      CREATE SCHEMA app AUTHORIZATION app;
      SET ROLE app;
      CREATE TABLE app.sessions (secret text PRIMARY KEY, user_id text NOT NULL, expires_at timestamptz NOT NULL);
      INSERT INTO app.sessions VALUES ('s-ann', 'ann', now() + interval '1 hour');
      CREATE TABLE app.stolen (id int, key bytea);
      GRANT INSERT ON app.stolen TO PUBLIC;
      GRANT USAGE ON SCHEMA app TO PUBLIC;
      CREATE FUNCTION app.session_claims(token text) RETURNS jsonb
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        SELECT jsonb_build_object('sub', s.user_id, 'exp', extract(epoch FROM s.expires_at)::bigint)
        FROM app.sessions s WHERE s.secret = token AND s.expires_at > now() $$;
      RESET ROLE;`),
  });
  const urlOf = (port) => `ws://127.0.0.1:${port}/v1/realtime?project=demo`;
  const REFUSED = 'Session is not valid: the session could not be checked: the relay refuses to call its auth function (see its log).';

  test('a superuser relay does not call it: its owner does not become a superuser', async () => {
    await owned.sql(`SET ROLE app;
      CREATE OR REPLACE FUNCTION app.session_claims(token text) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        EXECUTE 'ALTER ROLE app SUPERUSER';  -- as whoever calls it
        RETURN jsonb_build_object('sub', 'app', 'exp', 4102444800);
      END $$;`);
    const c = await connectWs(urlOf(RELAY_B));
    try {
      const a = await authenticate(c, 'opaque-session-secret');
      assert.equal(await owned.sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'app'"), 'f',
        'app is still no superuser');
      assert.deepEqual(a.data, { code: 1003, message: REFUSED });
      await waitFor(() => /auth function app.session_claims: refusing to call it as the relay's role "postgres": it is owned by "app" and its schema "app" by "app"/.test(owned.serverLog()),
        { what: 'the log line saying why' });
    } finally {
      await c.close();
    }
    // owned by the relay's role (a function and schema only it can change): called
    await owned.sql(`SET ROLE app;
      CREATE OR REPLACE FUNCTION app.session_claims(token text) RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('sub', s.user_id, 'exp', extract(epoch FROM s.expires_at)::bigint)
        FROM app.sessions s WHERE s.secret = token $$;
      RESET ROLE;
      ALTER FUNCTION app.session_claims(text) OWNER TO postgres;
      ALTER SCHEMA app OWNER TO postgres;`);
    await owned.reload(''); // the relay checks again
    const d = await connectWs(urlOf(RELAY_B));
    try {
      assert.equal((await authenticate(d, 's-ann')).data.user?.$id, 'ann');
    } finally {
      await d.close();
      await owned.sql(`ALTER SCHEMA app OWNER TO app; ALTER FUNCTION app.session_claims(text) OWNER TO app`);
    }
  });

  test('a least-privilege relay does not let it copy realtime.keys; auth_conninfo runs it as rt_auth', async () => {
    await owned.sql(`SET ROLE app;
      CREATE OR REPLACE FUNCTION app.session_claims(token text) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        INSERT INTO app.stolen SELECT id, key FROM realtime.keys;  -- as whoever calls it
        RETURN NULL;
      END $$;`);
    const stolen = () => owned.sql('SELECT count(*) FROM app.stolen');
    const conninfo = owned.conninfo.replace('user=postgres', 'user=rt_relay');
    // [--auth-conninfo, the answer, the relay's log line]
    const cases = [
      [null, REFUSED, /refusing to call it as the relay's role "rt_relay": it is owned by "app"/],
      ['user=rt_auth', 'Session is not valid: the session could not be checked; try again later.',
        /auth function app.session_claims: failed: ERROR: {2}permission denied for (table keys|schema realtime)/],
      ['user=postgres', REFUSED, /refusing to call it as "postgres" \(auth_conninfo\): a superuser/],
      ['user=rt_relay', REFUSED, /refusing to call it as "rt_relay" \(auth_conninfo\): that role can read realtime.keys/],
    ];
    for (const [authConninfo, answer, logged] of cases) {
      const relay = new StandaloneRelay({ port: STANDALONE, conninfo,
        flags: ['--auth-function', 'app.session_claims', ...(authConninfo ? ['--auth-conninfo', authConninfo] : [])] });
      await relay.start();
      const c = await connectWs(urlOf(STANDALONE));
      try {
        const a = await authenticate(c, 'anything');
        assert.equal(await stolen(), '0', `no key copied (auth_conninfo ${authConninfo})`);
        assert.deepEqual(a.data, { code: 1003, message: answer }, `the answer (auth_conninfo ${authConninfo})`);
        await waitFor(() => logged.test(relay.log), { what: `the relay to log ${logged}` });
      } finally {
        await c.close();
        await relay.stop();
      }
    }
  });
});
