// sdk.mjs - the unmodified appwrite Web SDK running in Node
//
// The Web SDK expects a browser: it needs the globals `window` and
// `localStorage` (PROTOCOL.md section 8) and the global WebSocket of Node 20's
// --experimental-websocket.  The global WebSocket is wrapped only to record
// what the SDK's sockets receive, so tests can wait for the relay's
// acknowledgements (the SDK itself ignores them).
import { Inbox, withTimeout } from './wait.mjs';

if (typeof globalThis.WebSocket !== 'function')
  throw new Error('no global WebSocket: run node with --experimental-websocket');

class MemoryStorage {
  #m = new Map();
  getItem(k) { return this.#m.has(k) ? this.#m.get(k) : null; }
  setItem(k, v) { this.#m.set(k, String(v)); }
  removeItem(k) { this.#m.delete(k); }
  clear() { this.#m.clear(); }
}

globalThis.window ??= globalThis;
globalThis.localStorage ??= new MemoryStorage();

/* Every WebSocket the SDK opens, with an Inbox of the JSON it receives. */
export const sockets = [];
const NativeWebSocket = globalThis.WebSocket;

class RecordingWebSocket extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this.url_ = url;
    this.inbox = new Inbox(`SDK socket ${url}`);
    this.closeEvent = null;
    this.addEventListener('message', (e) => {
      try {
        this.inbox.push(JSON.parse(e.data));
      } catch {
        this.inbox.push({ unparsable: String(e.data) });
      }
    });
    this.addEventListener('close', (e) => {
      this.closeEvent = { code: e.code, reason: e.reason };
      this.inbox.end(`closed ${e.code}`);
    });
    sockets.push(this);
  }
}
globalThis.WebSocket = RecordingWebSocket;

export const { Client, Realtime, Channel, Query, ID } = await import('appwrite');

/*
 * Subscribe through a Realtime service and wait until the relay acknowledged
 * it: the SDK's promise resolves when the socket opens, before its subscribe
 * message is even sent.  Returns {sub, events}; events is an Inbox of what
 * the callback received.
 */
export async function subscribeAndWait(rt, channels, queries = []) {
  const events = new Inbox(`SDK callback for ${channels}`);
  const sub = await withTimeout(rt.subscribe(channels, (e) => events.push(e), queries), 5000, 'Realtime.subscribe');
  const want = JSON.stringify((Array.isArray(channels) ? channels : [channels]).map(String));
  await rt.socket.inbox.take((m) => m.type === 'response' && m.data?.to === 'subscribe' &&
    m.data.subscriptions.some((s) => JSON.stringify(s.channels) === want), 5000,
  `the relay to acknowledge the subscription to ${want}`);
  return { sub, events };
}
