// cluster.mjs - a throwaway PostgreSQL cluster with pg_realtime, per test file
//
// Each test file starts its own cluster on its own ports through the repo's
// test/cluster.sh (server runs as user postgres on loopback), runs SQL with
// psql, and stops the cluster in an `after` hook whatever happened.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test as nodeTest } from 'node:test';

import { TEST_SECRET, serverToken } from './tokens.mjs';
import { waitFor, withTimeout } from './wait.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PG_CONFIG = process.env.PG_CONFIG || '/usr/lib/postgresql/15/bin/pg_config';
export const PGBIN = execFileSync(PG_CONFIG, ['--bindir']).toString().trim();
const AS_ROOT = process.getuid?.() === 0;

/*
 * PG_REALTIME_TRANSPORT=wal runs the tests with the wal transport: clusters
 * get wal_level = logical and pg_realtime.transport = wal, standalone relays
 * --transport wal and a slot of their own (test/run.sh runs the files where
 * the transport makes no difference to what is tested both ways).
 */
export const TRANSPORT = process.env.PG_REALTIME_TRANSPORT || 'notify';
export const WAL_CONF = ['wal_level = logical', 'pg_realtime.transport = wal'];
let slotCounter = 0;

/* Run a program; resolves {stdout, stderr}, rejects with both on failure. */
export function run(file, args, { timeout = 30000, input, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          err.message = `${path.basename(file)} ${args.join(' ').slice(0, 200)} failed` +
            `${err.killed ? ` (killed after ${timeout} ms)` : ''}: ${err.message}\n${stderr}`;
          reject(err);
        } else resolve({ stdout, stderr });
      });
    if (input !== undefined) child.stdin.end(input);
  });
}

/* Run a command as the server's operating system user. */
function asServerUser(file, args, opts) {
  return AS_ROOT ? run('runuser', ['-u', 'postgres', '--', file, ...args], opts) : run(file, args, opts);
}

/*
 * Clusters and relays this process started and has not stopped yet.  If the
 * process is interrupted (Ctrl-C, a CI timeout) its after hooks never run,
 * so the signal handlers below stop them synchronously; a cluster left over
 * from a killed run anyway is reaped by the next start of the same name.
 */
const live = new Set();

/* Every cluster and standalone relay this process started: their logs go into failures. */
const logged = new Set();
const LOG_TAIL = 6000;

/* A cluster's or a relay's log so far, with a label. */
function logOf(thing) {
  return thing instanceof Cluster
    ? { label: `server.log of cluster "${thing.name}"${thing.relayPort != null ? ` (relay worker on port ${thing.relayPort})` : ''}`, text: thing.serverLog() }
    : { label: `output of pg_realtime_relay on port ${thing.port}`, text: thing.log };
}

/*
 * node:test's test() (same arguments), but a failure's message ends with
 * what every cluster and standalone relay of this file logged while the
 * test ran (the last LOG_TAIL characters of each): the relay's side of the
 * story, without asking for it.  Every test file declares its tests with it.
 */
export function test(name, ...rest) {
  const fn = rest.pop();
  return nodeTest(name, ...rest, async (t) => {
    const marks = new Map([...logged].map((x) => [x, logOf(x).text.length]));
    try {
      return await fn(t);
    } catch (e) {
      let extra = '';
      for (const x of logged) {
        const { label, text } = logOf(x);
        const since = text.slice(marks.get(x) ?? 0);
        if (since)
          extra += `\n--- ${label}, while the test ran${since.length > LOG_TAIL ? ' (tail)' : ''}:\n${since.slice(-LOG_TAIL)}`;
      }
      if (extra && e instanceof Error) {
        try {
          e.message += extra;
        } catch { /* a read-only message: leave it */ }
      }
      throw e;
    }
  });
}

function stopAllNow() {
  for (const thing of live) {
    try {
      if (thing instanceof Cluster)
        execFileSync(path.join(ROOT, 'test/cluster.sh'), ['stop', thing.dir],
          { env: { ...process.env, PG_CONFIG }, stdio: 'ignore', timeout: 30000 });
      else
        thing.child?.kill('SIGKILL');
    } catch { /* best effort */ }
  }
  live.clear();
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    stopAllNow();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/* Stop (and remove) clusters of this name that a killed run left behind. */
function reapStale(name) {
  const prefix = `pg_realtime_e2e_${name}_`;
  for (const d of fs.readdirSync(os.tmpdir()).filter((x) => x.startsWith(prefix))) {
    const dir = path.join(os.tmpdir(), d);
    try {
      execFileSync(path.join(ROOT, 'test/cluster.sh'), ['stop', dir],
        { env: { ...process.env, PG_CONFIG }, stdio: 'ignore', timeout: 60000 });
    } catch { /* not running */ }
    if (!process.env.KEEP_CLUSTERS)
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

export class Cluster {
  /**
   * name: short label for the data directory; port: PostgreSQL port;
   * relayPort: pg_realtime.port, or null to leave the worker out (no
   * shared_preload_libraries); conf: more postgresql.conf lines; waitReady:
   * false when the relay cannot be ready before setup (a database to come).
   */
  constructor({ name, port, relayPort = null, conf = [], waitReady = true }) {
    Object.assign(this, { name, port, relayPort, conf, waitReady });
    this.dir = null;
  }

  async start() {
    reapStale(this.name);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `pg_realtime_e2e_${this.name}_`));
    fs.chmodSync(this.dir, 0o755);
    live.add(this);
    logged.add(this);
    const conf = [...(TRANSPORT === 'wal' ? WAL_CONF : []), ...this.conf];
    // every test relay accepts TEST_SECRET's tokens; the per-address limits
    // are off (all test clients come from 127.0.0.1) unless a test sets them
    if (this.relayPort != null)
      conf.unshift("shared_preload_libraries = 'pg_realtime'", `pg_realtime.port = ${this.relayPort}`,
        "pg_realtime.listen_addresses = '127.0.0.1'", `pg_realtime.jwt_secret = '${TEST_SECRET}'`,
        ...RELAXED_LIMITS.map(([k, v]) => `pg_realtime.${k} = ${v}`));
    await run(path.join(ROOT, 'test/cluster.sh'), ['start', this.dir, String(this.port), ...conf],
      { timeout: 90000, env: { PG_CONFIG } });
    await this.sql('CREATE EXTENSION pg_realtime');
    if (this.relayPort != null && this.waitReady)
      await waitRelayReady(this.relayPort);
  }

  /* libpq connection string for the standalone relay (Unix socket). */
  get conninfo() {
    return `host=${this.dir} port=${this.port} dbname=postgres user=postgres`;
  }

  /* Run SQL (one or more statements); returns psql's unaligned output. */
  async sql(text, { timeout = 30000, database = 'postgres' } = {}) {
    const { stdout } = await run(path.join(PGBIN, 'psql'),
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', this.dir, '-p', String(this.port),
        '-U', 'postgres', '-d', database, '-f', '-'],
      { timeout, input: text });
    return stdout.trim();
  }

  /*
   * Run SQL that changes settings (ALTER SYSTEM ...), reload, and wait until
   * the worker logged that it applied the new configuration.
   */
  async reload(settingsSql) {
    const count = () => (this.serverLog().match(/configuration reloaded/g) ?? []).length;
    const before = count();
    await this.sql(`${settingsSql}\nSELECT pg_reload_conf();`);
    await waitFor(() => count() > before, { timeout: 5000, what: 'the worker to reload its configuration' });
  }

  pgCtl(args, opts) {
    return asServerUser(path.join(PGBIN, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), ...args], opts);
  }

  serverLog() {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /* Fast shutdown (if running), then remove the directory unless KEEP_CLUSTERS. */
  async stop() {
    if (!this.dir)
      return;
    try {
      await run(path.join(ROOT, 'test/cluster.sh'), ['stop', this.dir], { timeout: 90000, env: { PG_CONFIG } });
    } catch (e) {
      // last resort: the postmaster must not outlive the test run
      try {
        const pid = Number(fs.readFileSync(path.join(this.dir, 'data/postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch { /* already gone */ }
      console.error(`stopping cluster ${this.dir}: ${e.message}`);
    }
    live.delete(this);
    if (process.env.KEEP_CLUSTERS)
      console.error(`kept cluster directory ${this.dir}`);
    else
      fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/*
 * Start a cluster before the tests of the calling file (or describe block)
 * and stop it after them, even when they fail.  Returns the Cluster.
 * options.setup(cluster) runs in the same hook: node 20 runs a file's
 * top-level before() hooks concurrently, so setup must not be a hook of its
 * own.  options.teardown(cluster) runs before the cluster stops.
 */
export function useCluster({ setup, teardown, ...options }) {
  const cluster = new Cluster(options);
  before(async () => {
    try {
      await cluster.start();
      if (setup)
        await setup(cluster);
    } catch (e) {
      const log = cluster.serverLog();
      e.message += log ? `\n--- server.log (tail)\n${log.slice(-4000)}` : '';
      throw e;
    }
  }, { timeout: 120000 });
  after(async () => {
    if (teardown)
      await withTimeout(Promise.resolve().then(() => teardown(cluster)), 10000, 'the test file\'s teardown')
        .catch((e) => console.error(e.message));
    if (process.env.SHOW_SERVER_LOG)
      console.error(cluster.serverLog());
    await cluster.stop();
  }, { timeout: 120000 });
  return cluster;
}

/*
 * Limits of the relay that the tests switch off by default, as [setting,
 * value]: tests open many connections and send many messages from one
 * address.  Tests of these limits set them again.
 */
export const RELAXED_LIMITS = [['max_connections_per_ip', 0], ['max_connects_per_minute', 0],
  ['max_messages_per_minute', 0]];

/*
 * GET /v1/health of a relay with a server-role token (its counts); the
 * parsed JSON body.  token: another token, or null for none.
 */
export async function health(port, { timeout = 2000, token = serverToken() } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/health`, {
    signal: AbortSignal.timeout(timeout),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (res.status !== 200)
    throw new Error(`GET /v1/health answered ${res.status}`);
  return res.json();
}

/* Wait until the relay answers and its LISTEN connections are all up. */
export async function waitRelayReady(port, { timeout = 20000, since = null, token } = {}) {
  let last = 'no answer';
  return waitFor(async () => {
    try {
      const h = await health(port, token === undefined ? {} : { token });
      last = JSON.stringify(h);
      return h.status === 'ok' && h.database.connected === h.database.listeners &&
        (since == null || since(h)) ? h : null;
    } catch (e) {
      last = e.message;
      return null;
    }
  }, { timeout, what: () => `relay on port ${port} ready (last: ${last})` });
}

/*
 * A standalone pg_realtime_relay process; stop() sends SIGTERM and waits.
 * conninfo is one connection string or a list.  Output is kept in .log for
 * failure messages.
 */
export class StandaloneRelay {
  /*
   * secret: the --jwt-secret flag (null: none; then health needs a token
   * the relay accepts); relaxed: the RELAXED_LIMITS flags before flags.
   */
  constructor({ port, conninfo, flags = [], nofile = null, secret = TEST_SECRET, relaxed = true, healthToken }) {
    Object.assign(this, { port, conninfo, flags, nofile, secret, relaxed, healthToken });
    this.log = '';
    this.child = null;
    this.exited = null;
  }

  async start() {
    // PG_REALTIME_RELAY: another build of the relay, e.g. the sanitizer one of test/sanitize-relay.sh
    const bin = process.env.PG_REALTIME_RELAY || path.join(PGBIN, 'pg_realtime_relay');
    const defaults = [...(this.secret ? ['--jwt-secret', this.secret] : []),
      ...(this.relaxed ? RELAXED_LIMITS.flatMap(([k, v]) => [`--${k.replaceAll('_', '-')}`, String(v)]) : [])];
    const wal = TRANSPORT === 'wal' && !this.flags.includes('--transport')
      ? ['--transport', 'wal', '--slot-name', `test_${this.port}_${process.pid}_${++slotCounter}`] : [];
    const args = ['--listen-addresses', '127.0.0.1', '--port', String(this.port), ...defaults, ...wal, ...this.flags,
      ...[this.conninfo].flat()];
    // nofile: run under a lower open-files limit (ulimit -n), through sh's exec
    this.child = this.nofile
      ? spawn('sh', ['-c', `ulimit -n ${Number(this.nofile)} && exec "$0" "$@"`, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d) => { this.log += d; });
    this.child.stderr.on('data', (d) => { this.log += d; });
    live.add(this);
    logged.add(this);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      live.delete(this);
      resolve({ code, signal });
    }));
    try {
      await Promise.race([
        waitRelayReady(this.port, { token: this.healthToken }),
        this.exited.then((x) => { throw new Error(`relay exited early (${JSON.stringify(x)})`); }),
      ]);
    } catch (e) {
      e.message += `\n--- relay output\n${this.log}`;
      throw e;
    }
  }

  /* SIGTERM; resolves the exit status. */
  async stop({ timeout = 10000 } = {}) {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null)
      return this.exited;
    this.child.kill('SIGTERM');
    try {
      return await withTimeout(this.exited, timeout, `relay on port ${this.port} to exit after SIGTERM`);
    } catch (e) {
      this.child.kill('SIGKILL');
      throw e;
    }
  }
}

/* The postmaster's PID, from postmaster.pid. */
export function postmasterPid(c) {
  return fs.readFileSync(path.join(c.dir, 'data/postmaster.pid'), 'utf8').split('\n')[0];
}

/*
 * The relay worker's PID, or null.  A worker without a database connection
 * has no row in pg_stat_activity on PostgreSQL 15, so fall back to the
 * postmaster's child whose title is "postgres: pg_realtime relay".
 */
export async function workerPid(c) {
  const fromSql = await c.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_realtime relay'");
  if (fromSql)
    return Number(fromSql);
  const postmaster = postmasterPid(c);
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      if (ppid === postmaster && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres: pg_realtime relay'))
        return Number(pid);
    } catch { /* process gone */ }
  }
  return null;
}

/* A field of /proc/PID/status in kB (VmRSS, VmHWM, VmSize). */
export function procStatusKb(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m)
    throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}
