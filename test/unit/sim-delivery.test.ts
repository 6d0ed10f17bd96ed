/**
 * Simulators deliver webhooks the way the providers do (issue 20.8): Meta retries a webhook not
 * answered 200 with backoff for up to 7 days; Evolution gives up on 400/401/403/404/422 and retries
 * anything else up to 10 attempts; Unipile retries five times. Pending deliveries survive a restart
 * (journalled under the data dir) and are due on the clock seam.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { advanceSystemClock } from '../../functions/kernel/clock.js';
import { closeServer, listen } from '../../lib/local/http-util.js';
import {
  createDeliveryQueue,
  type DeliveryPolicy,
  evolutionPolicy,
  metaPolicy,
  unipilePolicy,
} from '../../lib/local/sim/delivery.js';
import type { SimulatorContext } from '../../lib/local/sim/index.js';

const DAY = 24 * 3600 * 1000;
const half = () => 0.5;

/** Follows a policy through failed attempts until it gives up; returns how many attempts it made. */
function attemptsUntilGivingUp(policy: DeliveryPolicy, status: number | undefined): number {
  let age = 0;
  for (let attempts = 1; attempts < 10_000; attempts++) {
    const wait = policy.retryAfterMs(attempts, status, age);
    if (wait === undefined) return attempts;
    age += wait;
  }
  return Number.POSITIVE_INFINITY;
}

describe('provider policies', () => {
  it('Meta retries anything but 200 with growing waits, and never past 7 days', () => {
    const meta = metaPolicy(half);
    expect(meta.received(200)).toBe(true);
    expect(meta.received(204)).toBe(false);
    const waits = [1, 2, 3, 4, 5].map((n) => meta.retryAfterMs(n, 500, 0) ?? 0);
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(meta.retryAfterMs(3, 404, 0)).toBeDefined(); // even a 404 is retried
    expect(meta.retryAfterMs(50, 500, 7 * DAY - 1000)).toBeUndefined();
    let age = 0;
    for (let n = 1; ; n++) {
      const wait = meta.retryAfterMs(n, undefined, age);
      if (wait === undefined) break;
      age += wait;
    }
    expect(age).toBeLessThanOrEqual(7 * DAY);
    expect(age).toBeGreaterThan(6.9 * DAY);
  });

  it('Evolution gives up at once on 400, 401, 403, 404 and 422, and after 10 attempts otherwise', () => {
    const evolution = evolutionPolicy(half);
    for (const status of [400, 401, 403, 404, 422])
      expect(attemptsUntilGivingUp(evolution, status), String(status)).toBe(1);
    expect(attemptsUntilGivingUp(evolution, 500)).toBe(10);
    expect(attemptsUntilGivingUp(evolution, undefined)).toBe(10);
    expect(evolution.retryAfterMs(1, 500, 0)).toBe(5000);
    expect(evolution.retryAfterMs(9, 500, 0)).toBe(300_000);
    expect(evolution.received(201)).toBe(true);
  });

  it('Unipile retries five times when there is no 200', () => {
    const unipile = unipilePolicy();
    expect(attemptsUntilGivingUp(unipile, 500)).toBe(6);
    expect(unipile.received(201)).toBe(false);
    expect(unipile.timeoutMs).toBe(30_000);
  });
});

describe('the delivery queue', () => {
  const servers: Server[] = [];
  const queues: Array<{ close(): void }> = [];
  afterEach(async () => {
    for (const q of queues.splice(0)) q.close();
    for (const s of servers.splice(0)) await closeServer(s).catch(() => {});
  });

  function contextIn(dir: string, apiBaseUrl = ''): SimulatorContext {
    return {
      apiBaseUrl,
      simBaseUrl: '',
      env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dir : undefined),
      log: () => {},
    };
  }

  /** A receiver answering `answers` in turn (then 200); records what it got. */
  async function receiver(
    answers: number[],
  ): Promise<{ url: string; base: string; got: string[] }> {
    const got: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        got.push(body);
        res.writeHead(answers.shift() ?? 200).end();
      });
    });
    servers.push(server);
    const base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
    return { url: `${base}/hook`, base, got };
  }

  async function until(check: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(check()).toBe(true);
  }

  it('a webhook that meets a crashed handler is delivered again once its wait passes on the clock seam', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onceflow-delivery-'));
    const hook = await receiver([500, 500]);
    const queue = createDeliveryQueue(contextIn(dir, hook.base), {
      name: 'meta',
      policy: metaPolicy(half),
      tickMs: 5,
    });
    queues.push(queue);
    queue.enqueue({
      path: '/hook',
      headers: { 'content-type': 'application/json' },
      body: '{"n":1}',
    });
    await until(() => hook.got.length === 1);
    // Nothing more until Meta's wait (1 s) passes: moved on the clock seam, not slept.
    await new Promise((r) => setTimeout(r, 100));
    expect(hook.got).toHaveLength(1);
    advanceSystemClock(1500);
    await until(() => hook.got.length === 2);
    advanceSystemClock(3000);
    await until(() => queue.stats().received === 1);
    expect(hook.got).toEqual(['{"n":1}', '{"n":1}', '{"n":1}']);
    expect(queue.stats()).toMatchObject({ pending: 0, received: 1, givenUp: 0 });
  });

  it('Evolution drops a webhook answered 404 and never sends it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onceflow-delivery-'));
    const hook = await receiver([404]);
    const queue = createDeliveryQueue(contextIn(dir, hook.base), {
      name: 'evolution',
      policy: evolutionPolicy(half),
      tickMs: 5,
    });
    queues.push(queue);
    queue.enqueue({ path: '/hook', headers: {}, body: '{}' });
    await until(() => queue.stats().givenUp === 1);
    advanceSystemClock(3_600_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(hook.got).toHaveLength(1);
  });

  it('a delivery pending when the runtime was killed is delivered by the next start on the same data dir, wherever the API now listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onceflow-delivery-'));
    // The runtime is down: nothing listens on the API's port.
    const down = await receiver([]);
    await closeServer(servers.pop() as Server);
    const first = createDeliveryQueue(contextIn(dir, down.base), {
      name: 'meta',
      policy: metaPolicy(half),
      tickMs: 5,
    });
    first.enqueue({ path: '/hook', headers: {}, body: '{"owed":true}' });
    await until(() => first.stats().attempts >= 1);
    first.close(); // killed with the delivery still owed
    // The runtime comes back on the same data dir, its API on another port.
    const back = await receiver([]);
    const second = createDeliveryQueue(contextIn(dir, back.base), {
      name: 'meta',
      policy: metaPolicy(half),
      tickMs: 5,
    });
    queues.push(second);
    expect(second.stats().pending).toBe(1);
    advanceSystemClock(2000);
    await until(() => second.stats().received === 1);
    expect(back.got).toEqual(['{"owed":true}']);
    // A third start owes nothing.
    const third = createDeliveryQueue(contextIn(dir, back.base), {
      name: 'meta',
      policy: metaPolicy(half),
    });
    queues.push(third);
    expect(third.stats().pending).toBe(0);
  });
});
