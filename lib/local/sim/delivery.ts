/**
 * How the provider simulators deliver their webhooks: the way each provider does, so a handler that
 * crashed or a runtime that was killed gets the webhook again exactly when the real provider would
 * send it again, and not otherwise.
 *
 * A delivery is POSTed at once; an answer the provider does not count as received is retried on the
 * provider's schedule (`DeliveryPolicy`), until it is received or the policy gives up. Pending
 * deliveries are journalled under `<ONCEFLOW_DATA_DIR>/sim/<name>-deliveries.jsonl`, so a runtime
 * stopped and started again on the same data directory still owes them (the providers' queues live
 * outside the runtime), and they are due on the clock seam (`systemClock`): `/_local/clock/advance`
 * makes a retry due as the real wait would.
 *
 * Adding a provider is one policy and one `createDeliveryQueue(context, { name, policy })`.
 */
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../../functions/kernel/clock.js';
import type { SimulatorContext } from './index.js';
import { openJournal } from './journal.js';

export interface DeliveryPolicy {
  /** How long the provider waits for an answer before it counts the attempt as failed. */
  readonly timeoutMs: number;
  /** Whether this HTTP status means the webhook was received. */
  received(status: number): boolean;
  /**
   * The wait before the next attempt after `attempts` failed ones (the last answered `status`, or
   * undefined for no answer), `ageMs` after the first; undefined when the provider gives up.
   */
  retryAfterMs(attempts: number, status: number | undefined, ageMs: number): number | undefined;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/** ±`factor` of `ms`, so retries of many deliveries do not move in lockstep. */
function jittered(ms: number, factor: number, random: () => number): number {
  return Math.max(0, ms + ms * factor * (random() * 2 - 1));
}

/**
 * Meta (WhatsApp Cloud API): a webhook not answered 200 is sent again "with decreasing frequency
 * until the request succeeds, for up to 7 days" (Meta, Graph API Webhooks, "Event Notifications":
 * developers.facebook.com/docs/graph-api/webhooks/getting-started). Meta publishes no schedule: the
 * waits here double from 1 s up to 30 s (so a local run, which moves time only when told, settles in
 * seconds once the API answers again), and nothing is sent past 7 days.
 */
export function metaPolicy(random: () => number = Math.random): DeliveryPolicy {
  return {
    timeoutMs: 20 * SECOND,
    received: (status) => status === 200,
    retryAfterMs: (attempts, _status, ageMs) => {
      const wait = jittered(Math.min(SECOND * 2 ** (attempts - 1), 30 * SECOND), 0.2, random);
      return ageMs + wait <= 7 * DAY ? wait : undefined;
    },
  };
}

/**
 * Evolution API (EvolutionAPI/evolution-api 2.3.x, `src/api/integrations/event/webhook/
 * webhook.controller.ts` `retryWebhookRequest`, defaults of `WEBHOOK.RETRY`): any 2xx is received;
 * 400, 401, 403, 404 and 422 are final (no retry); otherwise up to 10 attempts, waiting
 * 5 s × 2^(n-1) capped at 300 s, ±20% jitter, never under 5 s; each attempt times out after 30 s
 * (`WEBHOOK.REQUEST.TIMEOUT_MS`). Evolution keeps these retries in memory only: the simulator's
 * journal is kinder than Evolution across a restart of the gateway itself, not of onceflow.
 */
export const EVOLUTION_NON_RETRYABLE = [400, 401, 403, 404, 422] as const;
export function evolutionPolicy(random: () => number = Math.random): DeliveryPolicy {
  return {
    timeoutMs: 30 * SECOND,
    received: (status) => status >= 200 && status < 300,
    retryAfterMs: (attempts, status) => {
      if (status !== undefined && (EVOLUTION_NON_RETRYABLE as readonly number[]).includes(status))
        return undefined;
      if (attempts >= 10) return undefined;
      const wait = Math.min(5 * SECOND * 2 ** (attempts - 1), 300 * SECOND);
      return Math.max(5 * SECOND, jittered(wait, 0.2, random));
    },
  };
}

/**
 * Unipile: a webhook not answered 200 within 30 s is retried five times, with growing delays
 * (Unipile developer docs, "Webhooks"). The delays are not published: 1, 2, 4, 8 and 16 minutes.
 */
export function unipilePolicy(): DeliveryPolicy {
  return {
    timeoutMs: 30 * SECOND,
    received: (status) => status === 200,
    retryAfterMs: (attempts) => (attempts <= 5 ? MINUTE * 2 ** (attempts - 1) : undefined),
  };
}

interface Pending {
  readonly id: string;
  /** Path under the API's base URL, resolved at each attempt (a restarted runtime may move port). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly firstAt: number;
  attempts: number;
  dueAt: number;
  lastStatus?: number;
  inFlight?: boolean;
}

type DeliveryEvent =
  | { readonly t: 'owed'; readonly delivery: Pending }
  | {
      readonly t: 'attempted';
      readonly id: string;
      readonly attempts: number;
      readonly dueAt: number;
    }
  | { readonly t: 'done'; readonly id: string; readonly outcome: 'received' | 'given_up' };

export interface DeliveryStats {
  readonly pending: number;
  readonly received: number;
  readonly givenUp: number;
  readonly attempts: number;
}

export interface DeliveryQueue {
  /**
   * Owes one webhook to `<apiBaseUrl><path>`: journalled, then POSTed at once (and again by the
   * policy). The base URL is read at each attempt, as a provider reads its configured callback URL:
   * a runtime started again on another port still gets what it was owed.
   */
  enqueue(delivery: { path: string; headers: Record<string, string>; body: string }): void;
  stats(): DeliveryStats;
  /** `POST /_sim/reset`: forget every pending delivery. */
  reset(): void;
  close(): void;
}

export function createDeliveryQueue(
  context: SimulatorContext,
  options: { readonly name: string; readonly policy: DeliveryPolicy; readonly tickMs?: number },
): DeliveryQueue {
  const { policy } = options;
  const clock = systemClock;
  const journal = openJournal<DeliveryEvent>(context, `${options.name}-deliveries`);
  const pending = new Map<string, Pending>();
  let received = 0;
  let givenUp = 0;
  let attempts = 0;
  let closed = false;

  // What an earlier run still owed is owed now, due at once when its wait has passed.
  for (const event of journal.replayed) {
    if (event.t === 'owed') pending.set(event.delivery.id, { ...event.delivery, inFlight: false });
    else if (event.t === 'attempted') {
      const item = pending.get(event.id);
      if (item) Object.assign(item, { attempts: event.attempts, dueAt: event.dueAt });
    } else pending.delete(event.id);
  }

  function finish(item: Pending, outcome: 'received' | 'given_up'): void {
    pending.delete(item.id);
    if (outcome === 'received') received += 1;
    else {
      givenUp += 1;
      context.log(`[sim:${options.name}] gave up a webhook after ${item.attempts} attempt(s)`);
    }
    journal.record({ t: 'done', id: item.id, outcome });
  }

  async function attempt(item: Pending): Promise<void> {
    item.inFlight = true;
    attempts += 1;
    let status: number | undefined;
    try {
      const url = `${context.apiBaseUrl.replace(/\/$/, '')}${item.path}`;
      const response = await fetch(url, {
        method: 'POST',
        headers: item.headers,
        body: item.body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = undefined; // no answer: refused, reset or timed out
    }
    item.inFlight = false;
    if (closed) return;
    item.attempts += 1;
    if (status !== undefined) item.lastStatus = status;
    if (status !== undefined && policy.received(status)) return finish(item, 'received');
    const now = clock.now();
    const wait = policy.retryAfterMs(item.attempts, status, now - item.firstAt);
    if (wait === undefined) return finish(item, 'given_up');
    item.dueAt = now + wait;
    journal.record({ t: 'attempted', id: item.id, attempts: item.attempts, dueAt: item.dueAt });
  }

  const MAX_IN_FLIGHT = 8;
  const timer = setInterval(() => {
    if (closed) return;
    const now = clock.now();
    let inFlight = [...pending.values()].filter((p) => p.inFlight).length;
    for (const item of pending.values()) {
      if (inFlight >= MAX_IN_FLIGHT) break;
      if (item.inFlight || item.dueAt > now) continue;
      inFlight += 1;
      void attempt(item);
    }
  }, options.tickMs ?? 25);
  timer.unref();

  return {
    enqueue(delivery) {
      const now = clock.now();
      const item: Pending = {
        id: randomBytes(8).toString('hex'),
        ...delivery,
        firstAt: now,
        attempts: 0,
        dueAt: now,
      };
      pending.set(item.id, item);
      journal.record({ t: 'owed', delivery: { ...item, inFlight: false } });
    },
    stats: () => ({ pending: pending.size, received, givenUp, attempts }),
    reset() {
      pending.clear();
      received = 0;
      givenUp = 0;
      attempts = 0;
      journal.clear();
    },
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
