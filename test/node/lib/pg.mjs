// pg.mjs - a database session through node-postgres, as a backend service
// or an attacker would hold one: LISTEN, pg_notify(), queries as any role.
import pg from 'pg';

import { Inbox, withTimeout } from './wait.mjs';

/*
 * A connected session of cluster as user (default postgres) in database;
 * .notifications is an Inbox of {channel, payload, processId}, .pid the
 * backend's PID.  end() closes it.
 */
export async function session(cluster, { user = 'postgres', database = 'postgres' } = {}) {
  const client = new pg.Client({ host: cluster.dir, port: cluster.port, user, database });
  client.notifications = new Inbox(`notifications of ${user}@${database}`);
  client.on('notification', (n) => client.notifications.push(n));
  client.on('error', () => {}); // a terminated backend: the test sees the failed query
  await withTimeout(client.connect(), 10000, `a session as ${user} in ${database}`);
  client.pid = client.processID;
  return client;
}

/* LISTEN on channel and wait for the next notification there. */
export function nextNotification(client, channel = 'pg_realtime', ms = 5000) {
  return client.notifications.take((n) => n.channel === channel, ms, `a notification on ${channel}`);
}
