// server.js - the tutorial relay, as a baseline for bench/relay
//
// The pattern realtime tutorials teach: one `pg` client LISTENs, each
// notification is JSON.parse'd, wrapped in an Appwrite-style event envelope,
// JSON.stringify'd once and sent to every `ws` client.  No channel matching,
// no permissions: it does less than pg_realtime on purpose.
//
//   PGHOST=... PGPORT=... node server.js PORT [CHANNEL]
'use strict';

const { Client } = require('pg');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8788);
const channel = process.argv[3] || 'pg_realtime';

const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/v1/realtime' });

wss.on('connection', (ws) => {
  ws.send(JSON.stringify({
    type: 'connected',
    data: { channels: ['documents'], subscriptions: ['s0'], user: null },
  }));
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === 'ping') ws.send('{"type":"pong"}');
  });
  ws.on('error', () => {});
});

const pg = new Client(); // PGHOST, PGPORT, PGUSER, PGDATABASE from the environment
pg.on('notification', (msg) => {
  const event = JSON.parse(msg.payload);
  const frame = JSON.stringify({
    type: 'event',
    data: {
      events: [event.event],
      channels: ['documents'],
      timestamp: new Date().toISOString(),
      payload: event.payload,
      subscriptions: ['s0'],
    },
  });
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(frame);
  }
});
pg.on('error', (err) => {
  console.error('pg:', err.message);
  process.exit(1);
});

pg.connect()
  .then(() => pg.query(`LISTEN ${pg.escapeIdentifier(channel)}`))
  .then(() => console.log(`listening on 127.0.0.1:${port}, channel ${channel}`))
  .catch((err) => {
    console.error('pg:', err.message);
    process.exit(1);
  });

const stop = () => {
  for (const client of wss.clients) client.close(1001);
  wss.close();
  pg.end().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
