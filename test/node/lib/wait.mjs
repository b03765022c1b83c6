// wait.mjs - bounded waiting: every await in these tests has a deadline

/* Resolve like promise, or reject after ms with a message naming what was awaited. */
export function withTimeout(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Poll fn (sync or async) until it returns something truthy; that value. */
export async function waitFor(fn, { timeout = 5000, interval = 50, what = 'a condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v)
      return v;
    if (Date.now() > end)
      throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(interval);
  }
}

/*
 * A queue of received items that tests take from in order: take(pred)
 * removes and returns the first item matching pred, waiting for it if
 * needed; none(pred, ms) asserts that nothing matching arrives.
 */
export class Inbox {
  constructor(label = 'messages') {
    this.label = label;
    this.items = [];
    this.all = [];
    this.waiters = [];
    this.ended = null;
  }

  push(item) {
    this.items.push(item);
    this.all.push(item);
    for (const w of [...this.waiters])
      w();
  }

  end(reason) {
    this.ended = reason ?? 'ended';
    for (const w of [...this.waiters])
      w();
  }

  async take(pred = () => true, ms = 5000, what = 'a matching message') {
    const find = () => {
      const i = this.items.findIndex(pred);
      return i < 0 ? undefined : this.items.splice(i, 1)[0];
    };
    let found = find();
    if (found !== undefined)
      return found;
    // an inbox that has ended gets nothing more: fail now, not at the deadline
    if (this.ended)
      throw new Error(`${this.label} ended (${this.ended}) before ${what} arrived; got: ${this.describe()}`);
    let wake;
    const waiter = () => wake();
    this.waiters.push(waiter);
    try {
      return await withTimeout((async () => {
        for (;;) {
          await new Promise((resolve) => { wake = resolve; });
          found = find();
          if (found !== undefined)
            return found;
          if (this.ended)
            throw new Error(`${this.label} ended (${this.ended}) before ${what} arrived; got: ${this.describe()}`);
        }
      })(), ms, () => `${what} on ${this.label}; got: ${this.describe()}`);
    } finally {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
    }
  }

  /* Resolve after ms if nothing matching pred arrived; reject with it if one did. */
  async none(pred, ms, what = 'an unexpected message') {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const i = this.items.findIndex(pred);
      if (i >= 0)
        throw new Error(`${what} arrived on ${this.label}: ${JSON.stringify(this.items[i]).slice(0, 500)}`);
      await sleep(Math.min(25, Math.max(1, end - Date.now())));
    }
    const i = this.items.findIndex(pred);
    if (i >= 0)
      throw new Error(`${what} arrived on ${this.label}: ${JSON.stringify(this.items[i]).slice(0, 500)}`);
  }

  describe() {
    const s = JSON.stringify(this.items.slice(-5));
    return s.length > 800 ? `${s.slice(0, 800)}…` : s;
  }
}
