// demo.test.mjs - test/demo.sh as a user meets it
//
// Started in the background by a script (so it inherits SIGINT ignored, as
// every background job of a non-interactive shell does), it must still stop
// on SIGINT, and on SIGTERM, removing its cluster.  While it runs it serves
// examples/browser.html and the SDK's browser build without the internet,
// prints the channel that track() returned and no empty result tables, and
// its ticker's changes reach a subscriber.  Timing: every wait is for
// output, an event or an exit, with deadlines that allow a loaded machine to
// build and start a cluster.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, test } from './lib/cluster.mjs';
import { WsClient, isEvent } from './lib/clients.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const PG_PORT = 55476;
const RELAY = 18750;
const HTTP = 18751;

/*
 * `bash -c 'test/demo.sh & wait'`: the demo is a background job of a
 * non-interactive shell.  Resolves {pid, output(), exited} once it is ready.
 */
async function startDemo() {
  const sh = spawn('bash', ['-c', 'test/demo.sh & echo "demo pid $!"; wait'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEMO_PG_PORT: String(PG_PORT), DEMO_RELAY_PORT: String(RELAY),
      DEMO_HTTP_PORT: String(HTTP), DEMO_TICK: '1' },
  });
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  sh.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => sh.on('exit', (code, signal) => resolve({ code, signal })));
  const demo = { sh, exited, output: () => out };
  try {
    await withTimeout(Promise.race([
      waitFor(() => out.includes('pg_realtime demo is running.'), { timeout: 300000, what: 'the demo to start' }),
      exited.then((x) => { throw new Error(`the demo exited early: ${JSON.stringify(x)}`); }),
    ]), 300000, 'the demo to start');
    demo.pid = Number(/demo pid (\d+)/.exec(out)[1]);
    demo.dir = /psql -h (\S+) /.exec(out)[1];
    return demo;
  } catch (e) {
    sh.kill('SIGKILL');
    e.message += `\n--- demo output\n${out}`;
    throw e;
  }
}

/* After a failure: stop the demo (and its cluster) if it still runs. */
async function cleanUp(demo) {
  if (demo.sh.exitCode !== null || demo.sh.signalCode !== null)
    return;
  try {
    process.kill(demo.pid, 'SIGTERM');
    await withTimeout(demo.exited, 60000, 'the demo to stop');
  } catch {
    demo.sh.kill('SIGKILL');
  }
}

/* Send sig to the demo script; wait until it and its shell exited. */
async function stopDemo(demo, sig) {
  process.kill(demo.pid, sig);
  await withTimeout(demo.exited, 60000, `the demo to stop on ${sig}; output:\n${demo.output()}`);
  assert.match(demo.output(), /demo cluster stopped/);
  assert.equal(fs.existsSync(demo.dir), false, 'the cluster directory is removed');
}

test('the demo, a background job of a script, serves the page and the SDK offline, and stops on SIGINT', async () => {
  const demo = await startDemo();
  try {
    const page = await fetch(`http://localhost:${HTTP}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="appwrite.js"><\/script>/);
    const sdk = await fetch(`http://localhost:${HTTP}/appwrite.js`);
    assert.equal(sdk.status, 200);
    assert.match(await sdk.text(), /this\.Appwrite = this\.Appwrite \|\| \{\}/, 'the IIFE build: a global, no imports');

    // track()'s channel is printed, and no empty result table
    assert.match(demo.output(), /published on the channel databases\.postgres\.collections\.orders\.documents\n/);
    assert.doesNotMatch(demo.output(), /\(\d+ rows?\)|^-+$/m);

    const c = await WsClient.open(`ws://127.0.0.1:${RELAY}/v1/realtime?project=demo&channels[]=databases.postgres.collections.orders.documents`);
    await c.take('connected');
    const e = await c.inbox.take(isEvent(), 10000, 'a change made by the ticker');
    assert.equal(e.data.payload.$collectionId, 'orders');
    await c.close();
    await stopDemo(demo, 'SIGINT');
  } finally {
    await cleanUp(demo);
  }
});

test('the demo stops on SIGTERM too', async () => {
  const demo = await startDemo();
  try {
    await stopDemo(demo, 'SIGTERM');
  } finally {
    await cleanUp(demo);
  }
});
