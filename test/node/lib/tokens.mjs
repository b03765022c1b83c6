// tokens.mjs - JSON Web Tokens for the tests, minted with `jsonwebtoken`
//
// Every test relay (lib/cluster.mjs) accepts HS256 tokens signed with
// TEST_SECRET, so that tests can authenticate users and ask /v1/health for
// its counts with a server-role token.  Tests of other keys make their own.
import jwt from 'jsonwebtoken';

export const TEST_SECRET = 'pg_realtime-test-secret-0123456789abcdef';

/* Seconds since the epoch. */
export const now = () => Math.floor(Date.now() / 1000);

/* A token for claims (exp one hour ahead unless given), HS256 with TEST_SECRET by default. */
export function mint(claims, { secret = TEST_SECRET, algorithm = 'HS256', keyid, header } = {}) {
  const body = { exp: now() + 3600, ...claims };
  if (body.exp === undefined) delete body.exp;
  return jwt.sign(body, secret, { algorithm, noTimestamp: true, ...(keyid ? { keyid } : {}), ...(header ? { header } : {}) });
}

/* A user's token: sub, plus any other claims. */
export const userToken = (sub, claims = {}, opts) => mint({ sub, ...claims }, opts);

/* A token of the server role (sees every event; gets /v1/health's counts). */
export const serverToken = (opts) => mint({ role: 'service_role' }, opts);
