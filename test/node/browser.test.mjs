// browser.test.mjs - examples/browser.html in headless Chromium, offline
//
// Debian's Chromium opens the page as examples/serve.mjs serves it (the
// SDK's IIFE build from the npm package, no CDN) in a network namespace
// without internet; the test drives it over the DevTools protocol with `ws`.
// The page subscribes and lists events; a wrong project id shows error 1008
// and the disconnect; a schema name as database id shows the relay's
// warning.  Timing: every wait is for the page's text, with a deadline that
// allows a loaded machine to start a browser.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

import { ROOT, test, useCluster } from './lib/cluster.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const RELAY = 18765;
const HTTP = 18766;
const CHROMIUM = '/usr/bin/chromium';
const children = [];
let profile = null;
let cdp = null;

const cluster = useCluster({
  name: 'browser', port: 55482, relayPort: RELAY, conf: ["pg_realtime.project = 'demo'"],
  setup: async (c) => {
    await c.sql(`CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric);
      SELECT realtime.track('public.orders', read => ARRAY['any']);`);
    await startServer();
    await startBrowser();
  },
  teardown: async () => {
    cdp?.ws.close();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await withTimeout(new Promise((r) => child.once('exit', r)), 5000, 'a child to exit').catch(() => child.kill('SIGKILL'));
      }
    }
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  },
});

function spawnLogged(file, args, env = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.log = '';
  child.stdout.on('data', (d) => { child.log += d; });
  child.stderr.on('data', (d) => { child.log += d; });
  children.push(child);
  return child;
}

async function startServer() {
  const server = spawnLogged(process.execPath, [path.join(ROOT, 'examples/serve.mjs'), String(HTTP)], { HOST: '127.0.0.1' });
  await waitFor(() => server.log.includes('serving'), { timeout: 10000, what: () => `examples/serve.mjs to listen: ${server.log}` });
}

/* Chromium with a DevTools port; cdp.send(method, params) on its page. */
async function startBrowser() {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pg_realtime_chromium_'));
  // as root Chromium needs --no-sandbox; the rest keeps it off the network
  const browser = spawnLogged(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank']);
  const portFile = path.join(profile, 'DevToolsActivePort');
  await waitFor(() => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').includes('\n'),
    { timeout: 60000, what: () => `Chromium to start: ${browser.log.slice(-2000)}` });
  const port = Number(fs.readFileSync(portFile, 'utf8').split('\n')[0]);
  const targets = await waitFor(async () => {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    return list.find((t) => t.type === 'page');
  }, { timeout: 20000, what: 'a page target' });
  const ws = new WebSocket(targets.webSocketDebuggerUrl, { perMessageDeflate: false });
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    10000, 'the DevTools connection');
  let id = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  cdp = {
    ws,
    send: (method, params = {}) => withTimeout(new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, (msg) => (msg.error ? reject(new Error(`${method}: ${JSON.stringify(msg.error)}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id: n, method, params }));
    }), 20000, `DevTools ${method}`),
  };
}

/* The text of an element of the page ('' while it is missing). */
async function text(selector) {
  const r = await cdp.send('Runtime.evaluate', {
    expression: `document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`, returnByValue: true,
  });
  return r.result.value;
}

async function open(query) {
  await cdp.send('Page.navigate', { url: `http://127.0.0.1:${HTTP}/?relay=http://127.0.0.1:${RELAY}/v1&${query}` });
}

/* Wait until the element's text matches re. */
function untilText(selector, re, what) {
  let last = '';
  return waitFor(async () => {
    last = await text(selector);
    return re.test(last) ? last : null;
  }, { timeout: 30000, interval: 100, what: () => `${what} (${selector} says ${JSON.stringify(last)})` });
}

test('the page subscribes with the SDK served offline and lists the events', async () => {
  await open('project=demo');
  await untilText('#state', /^subscribed to databases\.postgres\.collections\.orders\.documents$/, 'the subscription');
  await cluster.sql(`INSERT INTO orders VALUES (1, 'ada', 12.5)`);
  const li = await untilText('#events', /create {2}#1 {2}\{"id":1,"customer":"ada","total":12\.5\}/, 'the event in the list');
  assert.match(li, /^\d{4}-\d\d-\d\dT/);
  assert.equal(await text('#problems'), '', 'no problems shown');
  if (process.env.SCREENSHOT) {
    const shot = await cdp.send('Page.captureScreenshot', { format: 'png' });
    fs.writeFileSync(process.env.SCREENSHOT, Buffer.from(shot.data, 'base64'));
  }
});

test('a wrong project id shows error 1008 and the disconnect, not "subscribed" and silence', async () => {
  await open('project=wrong');
  await untilText('#problems', /error 1008: Missing or unknown project ID/, 'the error');
  await untilText('#state', /^disconnected \(close code 1008/, 'the disconnect');
});

test('a schema name as database id shows the relay\'s warning', async () => {
  await open('project=demo&database=public');
  await untilText('#problems', /relay warning: channel "databases\.public\.collections\.orders\.documents" never matches/,
    'the warning');
});

test('Chromium negotiates permessage-deflate both ways and takes gzip SSE (deflate.test.mjs has the details)', async () => {
  await open('project=demo');
  await untilText('#state', /^subscribed/, 'the page to start');
  // what the relay answers to Chromium's requests, from the DevTools protocol
  const responses = [];
  cdp.ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.method === 'Network.responseReceived') responses.push(msg.params.response);
  });
  await cdp.send('Network.enable');
  // a socket and an EventSource of the page's own; Chromium compresses
  // every message it sends on a deflate connection, the subscribe too
  await cdp.send('Runtime.evaluate', { expression: `
    window.got = { ws: [], sse: [] };
    window.sock = new WebSocket('ws://127.0.0.1:${RELAY}/v1/realtime?project=demo');
    sock.onmessage = (e) => got.ws.push(JSON.parse(e.data));
    sock.onopen = () => sock.send(JSON.stringify({ type: 'subscribe', data: [{ channels: ['documents'] }] }));
    window.es = new EventSource('http://127.0.0.1:${RELAY}/v1/realtime?project=demo&channels[]=documents');
    es.onmessage = (e) => got.sse.push(JSON.parse(e.data));
    es.onopen = () => got.sseOpen = true;` });
  const evaluate = async (expression) => (await cdp.send('Runtime.evaluate', { expression, returnByValue: true })).result.value;
  await waitFor(() => evaluate(`got.ws.some((m) => m.type === 'response' && m.data.to === 'subscribe') && got.sseOpen === true`),
    { timeout: 15000, what: 'the compressed subscribe answered and the EventSource open' });
  assert.equal(await evaluate('sock.extensions'),
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const sse = responses.find((r) => r.url.startsWith(`http://127.0.0.1:${RELAY}/v1/realtime`));
  assert.equal(sse?.headers['Content-Encoding'] ?? sse?.headers['content-encoding'], 'gzip');

  await cluster.sql(`INSERT INTO orders VALUES (2, 'grace', 99)`);
  const [ws, es] = await waitFor(() => evaluate(`[got.ws.find((m) => m.type === 'event'), got.sse[0]]`)
    .then((v) => (v[0] && v[1] ? v : null)), { timeout: 15000, what: 'the event on both' });
  assert.deepEqual([ws.data.payload.id, ws.data.payload.customer], [2, 'grace']);
  assert.deepEqual({ ...ws.data, subscriptions: null }, { ...es.data, subscriptions: null });
  await evaluate('sock.close(); es.close(); true');
});
