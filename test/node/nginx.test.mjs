// nginx.test.mjs - examples/nginx.conf, as it is, in front of the relay: wss:// and SSE over TLS
//
// Debian's nginx runs the example (its ports and certificate paths swapped
// for the test's) with a self-signed certificate made here by openssl, as
// an unprivileged user on loopback.  A `ws` client over wss://, the Appwrite
// SDK over wss:// (in a child process that trusts the certificate through
// NODE_EXTRA_CA_CERTS) and curl reading SSE over https all get an event:
// nginx passes the upgrade and does not buffer the stream.  Timing: every
// wait is for an answer, an event or an exit, with a deadline.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, run, test, useCluster } from './lib/cluster.mjs';
import { WsClient, curlSse, isEvent } from './lib/clients.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18760;
const HTTPS = 18761;
const NGINX = '/usr/sbin/nginx';
const AS_ROOT = process.getuid?.() === 0;
let nginx = null;
let dir = null;
let nginxLog = '';

const cluster = useCluster({
  name: 'nginx', port: 55480, relayPort: RELAY,
  setup: async (c) => {
    await c.sql(`CREATE TABLE orders (id int PRIMARY KEY, status text);
      SELECT realtime.track('public.orders', read => ARRAY['any']);`);
    await startNginx();
  },
  teardown: stopNginx,
});

/* The example with the test's ports and certificate; every swap must hit once. */
function exampleForTest() {
  let conf = fs.readFileSync(path.join(ROOT, 'examples/nginx.conf'), 'utf8');
  const swaps = [
    [/listen 443 ssl;/, `listen 127.0.0.1:${HTTPS} ssl;`],
    [/server 127\.0\.0\.1:8787;/, `server 127.0.0.1:${RELAY};`],
    [/ssl_certificate +\S+;/, `ssl_certificate ${dir}/cert.pem;`],
    [/ssl_certificate_key +\S+;/, `ssl_certificate_key ${dir}/key.pem;`],
  ];
  for (const [re, to] of swaps) {
    assert.equal(conf.split('\n').filter((l) => re.test(l)).length, 1, `examples/nginx.conf has one ${re}`);
    conf = conf.replace(re, to);
  }
  return conf;
}

async function startNginx() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg_realtime_nginx_'));
  fs.mkdirSync(path.join(dir, 'tmp'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
  fs.writeFileSync(path.join(dir, 'pg_realtime.conf'), exampleForTest());
  // a whole nginx.conf around it: everything in the test's directory
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  include ${dir}/pg_realtime.conf;
}
`);
  const args = ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', path.join(dir, 'nginx.conf')];
  if (AS_ROOT) // nginx needs no root: run it as the clusters' unprivileged user
    execFileSync('chown', ['-R', 'postgres', dir]);
  nginx = AS_ROOT ? spawn('runuser', ['-u', 'postgres', '--', NGINX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stdout.on('data', (d) => { nginxLog += d; });
  nginx.stderr.on('data', (d) => { nginxLog += d; });
  nginx.exited = new Promise((resolve) => nginx.on('exit', (code, signal) => resolve({ code, signal })));
  await withTimeout(Promise.race([
    waitFor(async () => {
      try {
        await run('curl', ['-sSf', '--cacert', path.join(dir, 'cert.pem'), `https://localhost:${HTTPS}/v1/health`]);
        return true;
      } catch {
        return false;
      }
    }, { timeout: 20000, interval: 100, what: 'nginx to answer over https' }),
    nginx.exited.then((x) => { throw new Error(`nginx exited: ${JSON.stringify(x)}\n${nginxLog}${errorLog()}`); }),
  ]), 25000, 'nginx to start');
}

function errorLog() {
  try {
    return fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

async function stopNginx() {
  if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
    const pid = Number(fs.readFileSync(path.join(dir, 'nginx.pid'), 'utf8'));
    process.kill(pid, 'SIGQUIT'); // graceful: the master waits for its worker
    await withTimeout(nginx.exited, 10000, 'nginx to exit').catch(() => process.kill(pid, 'SIGKILL'));
  }
  if (dir && !process.env.KEEP_CLUSTERS)
    fs.rmSync(dir, { recursive: true, force: true });
}

const ca = () => fs.readFileSync(path.join(dir, 'cert.pem'));

test('a ws client over wss:// gets connected and events through nginx', async () => {
  const c = await WsClient.open(`wss://localhost:${HTTPS}/v1/realtime?project=p&channels[]=documents`, { ca: ca() });
  try {
    await c.take('connected');
    await cluster.sql(`INSERT INTO orders VALUES (1, 'over tls')`);
    assert.equal((await c.inbox.take(isEvent(), 5000, 'the event over wss://')).data.payload.status, 'over tls');
    c.send({ type: 'ping' });
    await c.take('pong');
  } finally {
    await c.close();
  }
});

test('curl reads SSE over https through nginx, unbuffered', async () => {
  const s = curlSse(`https://localhost:${HTTPS}/v1/realtime?channels[]=documents`,
    { curlArgs: ['--cacert', path.join(dir, 'cert.pem')] });
  try {
    const first = await s.records.take(() => true, 5000, 'the stream to open');
    assert.equal(first.retry, '1000');
    // one small event: a buffering proxy would sit on it
    await cluster.sql(`INSERT INTO orders VALUES (2, 'sse over tls')`);
    assert.equal((await s.event(() => true, 5000)).json.data.payload.status, 'sse over tls');
  } finally {
    s.kill();
  }
});

test('the Appwrite SDK over wss:// through nginx (https endpoint) gets events', async () => {
  // a child process, so that NODE_EXTRA_CA_CERTS makes it trust the certificate
  const script = `
    import { Channel, Client, Realtime, subscribeAndWait } from ${JSON.stringify(path.join(ROOT, 'test/node/lib/sdk.mjs'))};
    const rt = new Realtime(new Client().setEndpoint('https://localhost:${HTTPS}/v1').setProject('p'));
    const { events } = await subscribeAndWait(rt, Channel.database('postgres').collection('orders').document());
    console.log('subscribed ' + rt.socket.url_);
    const e = await events.take(() => true, 10000, 'the event');
    console.log('event ' + JSON.stringify(e.payload));
    await rt.disconnect();
    process.exit(0);`;
  const child = spawn(process.execPath, ['--experimental-websocket', '--input-type=module', '-e', script], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await withTimeout(Promise.race([
      waitFor(() => out.includes('subscribed'), { timeout: 15000, what: 'the SDK to subscribe' }),
      exited.then((code) => { throw new Error(`the SDK process exited ${code}: ${out}`); }),
    ]), 16000, 'the SDK to subscribe');
    assert.match(out, new RegExp(`subscribed wss://localhost:${HTTPS}/v1/realtime\\?project=p`));
    await cluster.sql(`INSERT INTO orders VALUES (3, 'sdk over tls')`);
    assert.equal(await withTimeout(exited, 15000, `the SDK process to get the event; output: ${out}`), 0, out);
    assert.match(out, /event \{.*"status":"sdk over tls"/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('the example keeps quiet connections open longer than the SDK\'s 20 s ping', () => {
  const conf = fs.readFileSync(path.join(ROOT, 'examples/nginx.conf'), 'utf8');
  for (const key of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const m = new RegExp(`${key} (\\d+)s;`).exec(conf);
    assert.ok(m && Number(m[1]) > 20, `${key} above 20 s`);
  }
  assert.match(conf, /proxy_buffering off;/);
});
