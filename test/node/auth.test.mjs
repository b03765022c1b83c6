// auth.test.mjs - who is connecting: tokens, roles and per-user delivery
//
// Users authenticate as Appwrite clients do (the SDK's `authentication`
// message, setJWT's ?jwt=, Authorization: Bearer, the a_session_<project>
// cookie) with JSON Web Tokens minted by `jsonwebtoken`; each connection
// gets exactly the rows its roles may read (PROTOCOL.md 6).  Every refused
// token gets a reason; a token that expires ends the connection so that the
// SDK comes back with a fresh one.  A standalone relay checks RS256/ES256
// keys from PEM and JWKS, iss/aud, and key rotation on SIGHUP.
//
// Timing: every wait has a deadline of seconds; expiry tests use tokens
// that expire 2-3 s ahead with jwt_leeway = 0.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';

import { WsClient, connectWs, curlSse, isEvent, parseHttpResponse, rawHttp } from './lib/clients.mjs';
import { StandaloneRelay, health, useCluster } from './lib/cluster.mjs';
import { Channel, Client, Realtime, sockets, subscribeAndWait } from './lib/sdk.mjs';
import { mint, now, serverToken, userToken } from './lib/tokens.mjs';
import { Inbox, sleep, waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18780;

// an RSA key the worker also accepts (RS256), in a directory its server can read
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg_realtime_keys_auth_'));
fs.chmodSync(keyDir, 0o755);
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
fs.writeFileSync(path.join(keyDir, 'rsa.pub'), rsaPem, { mode: 0o644 });
after(() => fs.rmSync(keyDir, { recursive: true, force: true }));

const cluster = useCluster({
  name: 'auth', port: 55480, relayPort: RELAY,
  conf: ['pg_realtime.jwt_leeway = 0', "pg_realtime.project = 'demo'",
    `pg_realtime.jwt_public_key_file = '${path.join(keyDir, 'rsa.pub')}'`],
  setup: (c) => c.sql(`
    CREATE TABLE notes (id text PRIMARY KEY, perms text[]);
    SELECT realtime.track('public.notes', permissions_column => 'perms');
    CREATE TABLE team_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.team_docs', read => ARRAY['team:t1']);
    CREATE TABLE admin_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.admin_docs', read => ARRAY['team:t1/admin']);
    CREATE TABLE vip_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.vip_docs', read => ARRAY['label:vip']);
    CREATE TABLE verified_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.verified_docs', read => ARRAY['users/verified']);
    CREATE TABLE member_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.member_docs', read => ARRAY['users']);
    CREATE TABLE public_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.public_docs', read => ARRAY['any']);
    CREATE TABLE guest_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.guest_docs', read => ARRAY['guests']);
    CREATE TABLE secret_docs (id text PRIMARY KEY);
    SELECT realtime.track('public.secret_docs', read => ARRAY['team:nobody']);`),
  teardown: async () => {
    for (const rt of realtimes) await withTimeout(rt.disconnect(), 3000, 'SDK disconnect').catch(() => {});
    for (const r of relays) await r.stop().catch((e) => console.error(e.message));
  },
});
const realtimes = [];
const relays = [];

const URL = `ws://127.0.0.1:${RELAY}/v1/realtime?project=demo`;

/* A `ws` client subscribed to every row event, authenticated as given. */
async function client({ token, via = 'message', headers } = {}) {
  const url = via === 'url' && token ? `${URL}&jwt=${encodeURIComponent(token)}` : URL;
  const c = await connectWs(url, { headers });
  if (token && via === 'message') {
    c.send({ type: 'authentication', data: { session: token } });
    const r = await c.inbox.take((m) => m.type === 'error' || (m.type === 'response' && m.data?.to === 'authentication'),
      5000, 'the answer to authentication');
    c.auth = r;
  }
  await c.subscribe([{ subscriptionId: 'all', channels: ['documents'] }]);
  return c;
}

let markers = 0;

/*
 * Run sql, then insert a marker row readable by anyone; resolve, per
 * client, the "collection:id" of each event it got before the marker (events
 * come in commit order, so the marker proves nothing else is on its way).
 */
async function seenBy(clients, sql) {
  const marker = `m-${++markers}`;
  await cluster.sql(`${sql}; INSERT INTO public_docs VALUES ('${marker}');`);
  const seen = {};
  for (const [name, c] of Object.entries(clients)) {
    seen[name] = [];
    for (;;) {
      const e = await c.inbox.take(isEvent(), 5000, `${name}'s marker ${marker}`);
      if (e.data.payload.$id === marker)
        break;
      seen[name].push(`${e.data.payload.$collectionId}:${e.data.payload.$id}`);
    }
  }
  return seen;
}

const closeAll = (clients) => Promise.all(Object.values(clients).map((c) => c.close()));

describe('roles from claims, delivery by role (PROTOCOL.md 6)', () => {
  test('each connection gets exactly the rows its roles may read; the server role gets every row', async () => {
    const clients = {
      guest: await client(),
      alice: await client({ token: userToken('alice', { email_verified: true, teams: ['t1/admin'], labels: ['vip'] }) }),
      bob: await client({ token: userToken('bob', { teams: ['t1'], email_verified: false }), via: 'url' }),
      carol: await client({ token: userToken('carol', { verified: false }) }),
      dave: await client({ token: userToken('dave', { verified: true }), via: 'url' }),
      server: await client({ token: serverToken() }),
    };
    try {
      assert.deepEqual(clients.alice.auth.data, { to: 'authentication', success: true, user: { $id: 'alice' } });
      assert.deepEqual(clients.bob.connected.data.user, { $id: 'bob' });
      assert.deepEqual(clients.server.auth.data.user, { $id: null, server: true });
      const seen = await seenBy(clients, `
        INSERT INTO notes VALUES ('n-alice', '{"read(\\"user:alice\\")"}'), ('n-bob', '{"read(\\"user:bob\\")"}'),
          ('n-users', '{"read(\\"users\\")"}'), ('n-write', '{"write(\\"user:alice\\")"}'),
          ('n-alice-verified', '{"read(\\"user:alice/verified\\")"}'),
          ('n-bob-unverified', '{"read(\\"user:bob/unverified\\")"}'),
          ('n-unverified', '{"read(\\"users/unverified\\")"}');
        INSERT INTO team_docs VALUES ('t-1'); INSERT INTO admin_docs VALUES ('a-1');
        INSERT INTO vip_docs VALUES ('v-1'); INSERT INTO verified_docs VALUES ('ver-1');
        INSERT INTO member_docs VALUES ('mem-1'); INSERT INTO guest_docs VALUES ('g-1');
        INSERT INTO secret_docs VALUES ('s-1'); INSERT INTO public_docs VALUES ('p-1')`);
      assert.deepEqual(seen.guest, ['guest_docs:g-1', 'public_docs:p-1']);
      assert.deepEqual(seen.alice, ['notes:n-alice', 'notes:n-users', 'notes:n-alice-verified', 'team_docs:t-1',
        'admin_docs:a-1', 'vip_docs:v-1', 'verified_docs:ver-1', 'member_docs:mem-1', 'public_docs:p-1']);
      assert.deepEqual(seen.bob, ['notes:n-bob', 'notes:n-users', 'notes:n-bob-unverified', 'notes:n-unverified',
        'team_docs:t-1', 'member_docs:mem-1', 'public_docs:p-1']);
      assert.deepEqual(seen.carol, ['notes:n-users', 'notes:n-unverified', 'member_docs:mem-1', 'public_docs:p-1']);
      assert.deepEqual(seen.dave, ['notes:n-users', 'verified_docs:ver-1', 'member_docs:mem-1', 'public_docs:p-1']);
      assert.deepEqual(seen.server, ['notes:n-alice', 'notes:n-bob', 'notes:n-users', 'notes:n-write',
        'notes:n-alice-verified', 'notes:n-bob-unverified', 'notes:n-unverified', 'team_docs:t-1', 'admin_docs:a-1',
        'vip_docs:v-1', 'verified_docs:ver-1', 'member_docs:mem-1', 'guest_docs:g-1', 'secret_docs:s-1',
        'public_docs:p-1'], 'every event, whatever its read roles');
    } finally {
      await closeAll(clients);
    }
  });

  test('re-authenticating on an open socket recomputes the roles and keeps the subscriptions', async () => {
    const c = await client();
    try {
      let seen = await seenBy({ c }, `INSERT INTO notes VALUES ('r-1', '{"read(\\"user:alice\\")"}')`);
      assert.deepEqual(seen.c, [], 'a guest');
      c.send({ type: 'authentication', data: { session: userToken('alice') } });
      assert.equal((await c.take('response', (m) => m.data.to === 'authentication')).data.user.$id, 'alice');
      seen = await seenBy({ c }, `INSERT INTO notes VALUES ('r-2', '{"read(\\"user:alice\\")"}'), ('r-3', '{"read(\\"user:bob\\")"}')`);
      assert.deepEqual(seen.c, ['notes:r-2'], 'alice now, with the subscription made as a guest');
      c.send({ type: 'authentication', data: { session: userToken('bob') } });
      assert.equal((await c.take('response', (m) => m.data.to === 'authentication')).data.user.$id, 'bob');
      seen = await seenBy({ c }, `INSERT INTO notes VALUES ('r-4', '{"read(\\"user:alice\\")"}'), ('r-5', '{"read(\\"user:bob\\")"}')`);
      assert.deepEqual(seen.c, ['notes:r-5'], 'bob, no longer alice');
      // a refused token keeps the identity
      c.send({ type: 'authentication', data: { session: 'not-a-token' } });
      assert.equal((await c.take('error')).data.code, 1003);
      seen = await seenBy({ c }, `INSERT INTO notes VALUES ('r-6', '{"read(\\"user:bob\\")"}')`);
      assert.deepEqual(seen.c, ['notes:r-6']);
    } finally {
      await c.close();
    }
  });
});

describe('the appwrite SDK', () => {
  function sdk(configure) {
    const client = new Client().setEndpoint(`http://127.0.0.1:${RELAY}/v1`)
      .setEndpointRealtime(`ws://127.0.0.1:${RELAY}/v1`).setProject('demo');
    configure?.(client);
    const rt = new Realtime(client);
    realtimes.push(rt);
    return rt;
  }
  const notes = () => Channel.database('postgres').collection('notes').document();

  test('setSession(jwt): the SDK authenticates and receives user:alice rows; a guest does not', async () => {
    const alice = sdk((c) => c.setSession(userToken('alice')));
    const guest = sdk();
    const a = await subscribeAndWait(alice, notes());
    const g = await subscribeAndWait(guest, notes());
    const auth = alice.socket.inbox.all.find((m) => m.type === 'response' && m.data?.to === 'authentication');
    assert.deepEqual(auth?.data, { to: 'authentication', success: true, user: { $id: 'alice' } });
    assert.equal(guest.socket.inbox.all.some((m) => m.data?.to === 'authentication'), false, 'no session, no authentication');

    await cluster.sql(`INSERT INTO notes VALUES ('sdk-1', '{"read(\\"user:alice\\")"}'), ('sdk-2', '{"read(\\"user:bob\\")"}'),
      ('sdk-3', '{"read(\\"any\\")"}')`);
    assert.equal((await a.events.take()).payload.$id, 'sdk-1');
    assert.equal((await a.events.take()).payload.$id, 'sdk-3');
    assert.equal((await g.events.take()).payload.$id, 'sdk-3', 'the guest gets only the public row');
    await g.events.none(() => true, 200, 'another event for the guest');
    await a.events.none(() => true, 200, 'bob\'s row for alice');
    await alice.disconnect();
    await guest.disconnect();
  });

  test('setJWT: the token goes in the URL, "connected" names the user, and the SDK sends no authentication', async () => {
    const bob = sdk((c) => c.setJWT(userToken('bob')));
    const b = await subscribeAndWait(bob, notes());
    assert.match(bob.socket.url_, /&jwt=/);
    const connected = bob.socket.inbox.all.find((m) => m.type === 'connected');
    assert.deepEqual(connected.data.user, { $id: 'bob' });
    assert.equal(bob.socket.inbox.all.some((m) => m.data?.to === 'authentication'), false);
    await cluster.sql(`INSERT INTO notes VALUES ('sdk-4', '{"read(\\"user:alice\\")"}'), ('sdk-5', '{"read(\\"user:bob\\")"}')`);
    assert.equal((await b.events.take()).payload.$id, 'sdk-5');
    await bob.disconnect();
  });

  test('a token that expires mid-connection: no more events, error and close 4001; the SDK reconnects and is a guest', async () => {
    const rt = sdk((c) => c.setSession(userToken('alice', { exp: now() + 3 })));
    const a = await subscribeAndWait(rt, notes());
    const first = rt.socket;
    await cluster.sql(`INSERT INTO notes VALUES ('exp-1', '{"read(\\"user:alice\\")"}')`);
    assert.equal((await a.events.take()).payload.$id, 'exp-1');

    const err = await first.inbox.take((m) => m.type === 'error', 6000, 'the expiry error');
    assert.deepEqual(err.data, { code: 4001, message: 'The token expired; reconnect with a fresh one.' });
    await waitFor(() => first.closeEvent, { timeout: 3000, what: 'the close' });
    assert.equal(first.closeEvent.code, 4001, 'not 1008: the SDK reconnects');

    // the SDK reconnects by itself (after 1 s) with the same, expired, session
    const second = await waitFor(() => sockets.slice(sockets.indexOf(first) + 1).find((s) =>
      s.inbox.all.some((m) => m.data?.to === 'subscribe')), { timeout: 5000, what: 'the SDK to reconnect and subscribe' });
    const refused = second.inbox.all.find((m) => m.type === 'error');
    assert.match(refused.data.message, /^Session is not valid: the token expired\.$/);
    await cluster.sql(`INSERT INTO notes VALUES ('exp-2', '{"read(\\"user:alice\\")"}'), ('exp-3', '{"read(\\"any\\")"}')`);
    assert.equal((await a.events.take()).payload.$id, 'exp-3', 'a guest now: only the public row');
    await rt.disconnect();
  });
});

describe('where tokens come from', () => {
  test('SSE: ?jwt= and Authorization: Bearer; a refused token gets 401 with the reason', async () => {
    const url = `http://127.0.0.1:${RELAY}/v1/realtime?project=demo&channels[]=databases.postgres.collections.notes.documents`;
    const byQuery = curlSse(`${url}&jwt=${userToken('alice')}`);
    const byHeader = curlSse(url, { headers: [`Authorization: Bearer ${userToken('bob')}`] });
    try {
      for (const s of [byQuery, byHeader]) await s.records.take((r) => r.retry, 5000, 'the stream to open');
      await cluster.sql(`INSERT INTO notes VALUES ('sse-1', '{"read(\\"user:alice\\")"}'), ('sse-2', '{"read(\\"user:bob\\")"}')`);
      assert.equal((await byQuery.event()).json.data.payload.$id, 'sse-1');
      assert.equal((await byHeader.event()).json.data.payload.$id, 'sse-2');
    } finally {
      byQuery.kill();
      byHeader.kill();
    }
    const res = await rawHttp(RELAY, `GET /v1/realtime?channels[]=documents&jwt=${mint({ sub: 'x' }, { secret: 'another-secret-another-secret-123' })} HTTP/1.1\r\n` +
      'Host: x\r\nAccept: text/event-stream\r\n\r\n');
    assert.equal(res.status, 401);
    assert.deepEqual(JSON.parse(res.body), { message: 'Session is not valid: the signature does not match.', code: 401 });
  });

  test('SSE: when the token expires, an "error" record says why and the stream ends', async () => {
    const url = `http://127.0.0.1:${RELAY}/v1/realtime?project=demo&channels[]=documents`;
    const s = curlSse(`${url}&jwt=${userToken('alice', { exp: now() + 2 })}`);
    try {
      await s.records.take((r) => r.retry, 5000, 'the stream to open');
      const rec = await s.records.take((r) => r.event === 'error', 5000, 'the expiry record');
      assert.deepEqual(rec.json, { type: 'error', data: { code: 4001, message: 'The token expired; reconnect with a fresh one.' } });
      const exit = await withTimeout(s.exited, 3000, 'the stream to end');
      assert.equal(exit.code, 0, 'the relay ended the stream');
    } finally {
      s.kill();
    }
  });

  test('Authorization: Bearer on the WebSocket upgrade', async () => {
    const c = await connectWs(URL, { headers: { Authorization: `Bearer ${userToken('carol')}` } });
    try {
      assert.deepEqual(c.connected.data.user, { $id: 'carol' });
    } finally {
      await c.close();
    }
  });

  test('the a_session_<project> cookie: accepted without Origin or from allowed_origins only', async () => {
    const cookie = `theme=dark; a_session_demo=${userToken('alice')}; other=1`;
    const c = await connectWs(URL, { headers: { Cookie: cookie } });
    try {
      assert.deepEqual(c.connected.data.user, { $id: 'alice' });
    } finally {
      await c.close();
    }
    // a browser on another site (cross-site WebSocket hijacking): refused
    const evil = await WsClient.open(URL, { headers: { Cookie: cookie, Origin: 'http://evil.example' } });
    const err = await evil.take('error');
    assert.deepEqual(err.data, { code: 1008, message: 'Session cookies are accepted only from the origins in allowed_origins' });
    assert.equal((await evil.waitClosed()).code, 1008);
    // the same origin without a cookie is an ordinary guest
    const guest = await connectWs(URL, { headers: { Origin: 'http://evil.example' } });
    assert.equal(guest.connected.data.user, null);
    await guest.close();
  });

  test('/v1/health gives its counts only to a server-role token', async () => {
    const get = async (token) => {
      const res = await fetch(`http://127.0.0.1:${RELAY}/v1/health`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
      return res.json();
    };
    assert.deepEqual(await get(), { status: 'ok' });
    assert.deepEqual(await get(userToken('alice')), { status: 'ok' });
    assert.deepEqual(await get('garbage'), { status: 'ok' });
    const full = await get(serverToken());
    assert.equal(full.status, 'ok');
    assert.equal(typeof full.connections.total, 'number');
    assert.equal(typeof full.events.received, 'number');
  });
});

describe('refused tokens', () => {
  const header = (h) => Buffer.from(JSON.stringify(h)).toString('base64url');
  const sign = (input, secret, alg = 'sha256') => crypto.createHmac(alg, secret).update(input).digest('base64url');
  const claims = (extra = {}) => header({ sub: 'mallory', exp: now() + 600, ...extra });
  const hs256 = (body, secret = 'pg_realtime-test-secret-0123456789abcdef', h = { alg: 'HS256', typ: 'JWT' }) => {
    const input = `${header(h)}.${body}`;
    return `${input}.${sign(input, secret)}`;
  };
  const cases = [
    ['alg none', `${header({ alg: 'none' })}.${claims()}.`, /unsigned tokens \("alg":"none"\) are not accepted/],
    ['alg none with a signature', `${header({ alg: 'none' })}.${claims()}.${sign('x', 'y')}`, /"alg":"none"/],
    ['algorithm confusion: HS256 signed with the RSA public key', hs256(claims(), rsaPem), /the signature does not match/],
    ['a bad signature', (() => { const t = userToken('mallory'); return t.slice(0, -3) + (t.endsWith('AAA') ? 'BBB' : 'AAA'); })(),
      /the signature does not match/],
    ['another secret', mint({ sub: 'mallory' }, { secret: 'not-the-relays-secret-0123456789abc' }), /the signature does not match/],
    ['expired', mint({ sub: 'mallory', exp: now() - 5 }), /the token expired/],
    ['not yet valid', mint({ sub: 'mallory', nbf: now() + 600 }), /not valid yet \(nbf\)/],
    ['issued in the future', hs256(claims({ iat: now() + 600 })), /issued in the future/],
    ['no exp', hs256(header({ sub: 'mallory' })), /no numeric "exp"/],
    ['malformed: two parts', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0', /three dot-separated parts/],
    ['malformed: padding', `${userToken('mallory')}=`, /not base64url/],
    ['malformed: header not JSON', `${Buffer.from('{alg:HS256}').toString('base64url')}.${claims()}.AAAA`, /header is not base64url-encoded JSON/],
    ['duplicate alg in the header', hs256(claims(), undefined, undefined).replace(/^[^.]+/,
      Buffer.from('{"alg":"HS256","alg":"none"}').toString('base64url')), /header is not/],
    ['an unsupported algorithm', `${header({ alg: 'PS256' })}.${claims()}.AAAA`, /"PS256" is not supported/],
    ['RS256 signed by another key', jwt.sign({ sub: 'mallory', exp: now() + 60 },
      crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256' }), /the signature does not match/],
    ['ES256 with no EC key configured', jwt.sign({ sub: 'mallory', exp: now() + 60 },
      crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, { algorithm: 'ES256' }), /ES256 tokens need a public key/],
    ['a sub that could spell another role', userToken('alice/verified'), /"sub" claim is not an Appwrite ID/],
    ['no sub', mint({ role: 'authenticated' }), /no "sub" claim/],
    ['a bad team', userToken('mallory', { teams: ['t1/admin/x'] }), /item 0 of the "teams" claim/],
    ['a bad label', userToken('mallory', { labels: ['v-i-p'] }), /item 0 of the "labels" claim/],
    ['an opaque token (no auth function)', 'opaque-session-secret', /not a JWT/],
  ];

  test('every refused token gets error 1003 with the reason, and the connection stays a guest', async () => {
    const c = await client();
    try {
      for (const [name, token, reason] of cases) {
        c.send({ type: 'authentication', data: { session: token } });
        const e = await c.inbox.take(() => true, 3000, `the answer to "${name}"`);
        assert.equal(e.type, 'error', name);
        assert.equal(e.data.code, 1003, name);
        assert.match(e.data.message, /^Session is not valid: /, name);
        assert.match(e.data.message, reason, name);
      }
      const seen = await seenBy({ c }, `INSERT INTO notes VALUES ('x-1', '{"read(\\"user:mallory\\")"}'), ('x-2', '{"read(\\"users\\")"}')`);
      assert.deepEqual(seen.c, [], 'still a guest');
    } finally {
      await c.close();
    }
  });

  test('an RS256 token signed with the configured key is accepted (the same key that HS256 must not use)', async () => {
    const c = await client({ token: jwt.sign({ sub: 'rsa-user', exp: now() + 60 }, rsa.privateKey, { algorithm: 'RS256' }) });
    try {
      assert.deepEqual(c.auth.data.user, { $id: 'rsa-user' });
    } finally {
      await c.close();
    }
  });
});

describe('keys of a standalone relay', () => {
  const PORT = 18781;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg_realtime_keys_standalone_'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'secret');
  const jwksFile = path.join(dir, 'jwks.json');
  const secret1 = 'first-secret-of-the-standalone-relay!';
  const secret2 = 'second-secret-of-the-standalone-relay';
  const rsa1 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsa2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = (pair, kid, alg) => ({ ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
  const iss = { iss: 'https://auth.test', aud: ['web', 'realtime'] };
  const token = (claims, key, options) => jwt.sign({ exp: now() + 600, ...iss, ...claims }, key, options);
  let relay;

  async function answer(t) {
    const c = await connectWs(`ws://127.0.0.1:${PORT}/v1/realtime?project=p`);
    try {
      c.send({ type: 'authentication', data: { session: t } });
      return await c.inbox.take((m) => m.type === 'error' || m.data?.to === 'authentication', 3000, 'an answer');
    } finally {
      await c.close();
    }
  }
  const accepted = async (t, who) => assert.deepEqual((await answer(t)).data.user, { $id: who });
  const refused = async (t, reason) => {
    const a = await answer(t);
    assert.equal(a.type, 'error');
    assert.match(a.data.message, reason);
  };

  test('RS256 from a JWKS by kid, ES256, HS256 from a secret file; iss and aud checked', async () => {
    fs.writeFileSync(secretFile, `${secret1}\n`);
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [jwk(rsa1, 'r1', 'RS256'), jwk(ec1, 'e1', 'ES256')] }));
    relay = new StandaloneRelay({
      port: PORT, conninfo: cluster.conninfo, secret: null,
      flags: ['--jwt-secret-file', secretFile, '--jwt-public-key-file', jwksFile, '--jwt-issuer', 'https://auth.test',
        '--jwt-audience', 'realtime', '--jwt-leeway', '0'],
      healthToken: token({ role: 'service_role' }, secret1, { algorithm: 'HS256' }),
    });
    relays.push(relay);
    await relay.start();
    await accepted(token({ sub: 'r' }, rsa1.privateKey, { algorithm: 'RS256', keyid: 'r1' }), 'r');
    await accepted(token({ sub: 'e' }, ec1.privateKey, { algorithm: 'ES256', keyid: 'e1' }), 'e');
    await accepted(token({ sub: 'h' }, secret1, { algorithm: 'HS384' }), 'h');
    await refused(token({ sub: 'r' }, rsa1.privateKey, { algorithm: 'RS256', keyid: 'e1' }), /no RS256 key with kid "e1"/);
    await refused(token({ sub: 'r' }, rsa2.privateKey, { algorithm: 'RS256', keyid: 'r1' }), /signature does not match/);
    await refused(token({ sub: 'h', iss: 'https://evil.test' }, secret1, { algorithm: 'HS256' }), /issuer \(iss\)/);
    await refused(token({ sub: 'h', aud: 'web' }, secret1, { algorithm: 'HS256' }), /audience \(aud\)/);
    await refused(jwt.sign({ sub: 'h', exp: now() + 60 }, secret1), /issuer/);
  });

  test('SIGHUP: new keys are read, old tokens refused, connections stay; a broken file keeps the keys in use', async () => {
    const oldToken = token({ sub: 'old' }, secret1, { algorithm: 'HS256' });
    const open = await connectWs(`ws://127.0.0.1:${PORT}/v1/realtime?project=p&jwt=${oldToken}&channels[]=documents`);
    assert.deepEqual(open.connected.data.user, { $id: 'old' });

    const reloads = () => (relay.log.match(/authentication keys reloaded/g) ?? []).length;
    fs.writeFileSync(secretFile, secret2);
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [jwk(rsa2, 'r2', 'RS256')] }));
    relay.child.kill('SIGHUP');
    await waitFor(() => reloads() === 1, { timeout: 5000, what: 'the relay to reload its keys' });
    await refused(oldToken, /signature does not match/);
    await accepted(token({ sub: 'new' }, secret2, { algorithm: 'HS256' }), 'new');
    await refused(token({ sub: 'r' }, rsa1.privateKey, { algorithm: 'RS256', keyid: 'r1' }), /no RS256 key with kid "r1"/);
    await accepted(token({ sub: 'r' }, rsa2.privateKey, { algorithm: 'RS256', keyid: 'r2' }), 'r');

    // the connection made with the old key is still there and still gets its rows
    await cluster.sql(`INSERT INTO notes VALUES ('hup-1', '{"read(\\"user:old\\")"}')`);
    assert.equal((await open.inbox.take(isEvent(), 5000, 'the row for "old"')).data.payload.$id, 'hup-1');

    fs.writeFileSync(jwksFile, '{"keys":[{"kty":"RSA","n":"AQAB"');
    relay.child.kill('SIGHUP');
    await waitFor(() => /could not reload authentication settings: not a JWKS document.*previous keys stay in use/.test(relay.log),
      { timeout: 5000, what: 'the relay to report the broken key file' });
    await accepted(token({ sub: 'r' }, rsa2.privateKey, { algorithm: 'RS256', keyid: 'r2' }), 'r');
    await accepted(token({ sub: 'new' }, secret2, { algorithm: 'HS256' }), 'new');
    await open.close();
  });

  test('a relay with an unusable key refuses to start, saying why', async () => {
    fs.writeFileSync(path.join(dir, 'short'), 'too-short');
    const r = new StandaloneRelay({ port: PORT + 1, conninfo: cluster.conninfo, secret: null,
      flags: ['--jwt-secret-file', path.join(dir, 'short')] });
    await assert.rejects(r.start(), /relay exited early/);
    assert.match(r.log, /cannot check tokens: the HMAC secret has 9 bytes; at least 32 are required/);
  });
});
