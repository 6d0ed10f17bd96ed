/**
 * The delivery worker: one attempt of one delivery, as Standard Webhooks 1.0 and the contract say.
 *
 * DynamoDB is the truth and the queue message a doorbell that also holds the entity's place in
 * line: the worker re-reads the delivery, does nothing when it is no longer pending, and answers
 * `later` (the message hidden until the attempt is due, its group held) while an attempt is not
 * yet due. An attempt posts the event signed with the endpoint's secret (and, for 24 hours after a
 * rotation, the previous one too), to the address the SSRF guard checked just before, and records
 * the outcome in one conditional write guarded on the attempt count it saw.
 *
 * A crash after the receiver answered and before the record repeats the attempt: the receiver sees
 * the same `webhook-id` twice, which is what Standard Webhooks' id is for (at least once, with a
 * stable id). The record is never lost and never doubled.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import type { SecretBox } from '../kernel/secret-box.js';
import {
  checkTarget,
  ForbiddenTargetError,
  type Resolver,
  type TargetPolicy,
} from '../kernel/ssrf.js';
import { countMetric } from '../kernel/telemetry.js';
import type { AttemptChanges, EventsStore } from './events-store.js';
import type { DeliveryRecord, DeliveryRef, EndpointRecord } from './items.js';
import type { EventSink, OnceflowEvent } from './model.js';
import { signatureHeader } from './signing.js';
import type { WebhookTransport } from './transport.js';

export const DELIVER_AFTER_POST = defineFailpoint(
  'events.deliver.after-post',
  'the receiver answered; the attempt is not recorded',
);
export const DELIVER_AFTER_HEALTH = defineFailpoint(
  'events.deliver.after-health',
  "the endpoint's failure run is updated (or it is disabled and told); the attempt is not recorded",
);

/**
 * The contract's schedule: the delay before each attempt (api.md, "Events out"; Svix's own
 * schedule). Eight attempts over 27 h 35 min 5 s, then `failed`.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** An endpoint whose every attempt failed for this long is disabled (the contract's 5 days). */
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000;

/** How long the previous secret still signs after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

/**
 * Jitter added to a retry's delay: up to 10% of it, so endpoints that failed together (a
 * receiver's outage) do not all come back in the same second.
 */
export const JITTER_SHARE = 0.1;

/**
 * The longest a delivery's message can stay in its queue while working as designed: the whole
 * schedule with the most jitter (99,305 s x 1.1 = 109,236 s, 30.3 h) plus an hour of slack for a
 * slow worker. A message older than this is stuck: the queue's stale-work alarm uses it.
 */
export const DELIVERY_SPAN_SECONDS =
  Math.ceil((RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0) * (1 + JITTER_SHARE)) / 1000) + 3600;

/** What a receiver's answer is kept of (`lastError`). */
const MAX_ERROR_CHARS = 200;

export interface DeliveryDeps {
  readonly store: EventsStore;
  readonly transport: WebhookTransport;
  readonly resolver: Resolver;
  readonly policy: TargetPolicy;
  readonly clock: Clock;
  /** Opens the endpoint's sealed secrets. */
  readonly box: () => Promise<SecretBox>;
  /** Where `endpoint.disabled` goes (the tenant's other endpoints). */
  readonly sink: EventSink;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default 10_000 */
  readonly timeoutMs?: number;
}

export type DeliveryOutcome =
  | { readonly kind: 'done'; readonly delivery?: DeliveryRecord }
  /** Not due yet, or just failed with attempts left: hide the message this long, hold the group. */
  | { readonly kind: 'later'; readonly afterMs: number };

/** The Standard Webhooks body: `{"type", "timestamp", "data"}`. */
export function webhookBody(event: OnceflowEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt, data: event.data });
}

/** The secrets that sign now: the current one, and the previous one within its 24 hours. */
export function signingSecrets(endpoint: EndpointRecord, box: SecretBox, now: number): string[] {
  const bound = secretBinding(endpoint.tenantId, endpoint.endpointId);
  const secrets = [box.open(endpoint.secretSealed, bound)];
  if (
    endpoint.previousSecretSealed &&
    endpoint.previousSecretUntil &&
    Date.parse(endpoint.previousSecretUntil) > now
  ) {
    secrets.push(box.open(endpoint.previousSecretSealed, bound));
  }
  return secrets;
}

/** What a sealed secret is bound to: its tenant and endpoint. */
export function secretBinding(tenantId: string, endpointId: string): string {
  return `${tenantId}/${endpointId}`;
}

/** `endpoint.disabled` for a disabled endpoint: its id derives from the disable itself. */
export function disabledEvent(endpoint: EndpointRecord): OnceflowEvent {
  const at = endpoint.disabledAt ?? endpoint.updatedAt;
  const digest = createHash('sha256')
    .update(`${endpoint.tenantId}\u0000${endpoint.endpointId}\u0000${at}`)
    .digest('hex')
    .slice(0, 32);
  return {
    eventId: `evt_${digest}`,
    tenantId: endpoint.tenantId,
    type: 'endpoint.disabled',
    entityKey: `endpoint:${endpoint.endpointId}`,
    occurredAt: at,
    data: {
      tenantId: endpoint.tenantId,
      endpointId: endpoint.endpointId,
      reason: endpoint.disabledReason ?? 'failing',
      disabledAt: at,
    },
  };
}

export async function deliver(deps: DeliveryDeps, ref: DeliveryRef): Promise<DeliveryOutcome> {
  // One consistent read of the three items (not three): the truth this attempt acts on.
  const { delivery, endpoint, event } = await deps.store.getAttemptContext(ref);
  if (delivery?.status !== 'pending') return { kind: 'done' };
  const now = deps.clock.now();
  if (!endpoint || endpoint.state === 'disabled') {
    // Told to the tenant's other endpoints before this delivery closes, so a crash in between
    // tells it again (one event id per disable: the dispatcher keeps it once); once told, the
    // endpoint's other pending deliveries close without handing it over again.
    if (endpoint && endpoint.disabledToldAt !== endpoint.disabledAt)
      await tellDisabled(deps, endpoint);
    const closed = await deps.store.recordAttempt(ref, delivery.attempts, {
      status: 'failed',
      attempts: delivery.attempts,
      lastError: endpoint ? 'endpoint disabled' : 'endpoint deleted',
      ...optionalCode(delivery.lastStatusCode),
    });
    return { kind: 'done', ...(closed ? { delivery: closed } : {}) };
  }
  const dueAt = delivery.nextAttemptAt ? Date.parse(delivery.nextAttemptAt) : now;
  if (dueAt > now) return { kind: 'later', afterMs: dueAt - now };

  if (!event) throw new Error(`event ${ref.eventId} of a pending delivery is not in the log`);
  const attempt = await attemptOnce(deps, endpoint, event, now);
  failpoint(DELIVER_AFTER_POST);
  // Before the record: a crash between the two repeats the attempt and this (idempotent) step,
  // whereas a record first would leave a 410's endpoint enabled forever.
  await trackEndpointHealth(deps, endpoint, attempt, now);
  failpoint(DELIVER_AFTER_HEALTH);

  const attempts = delivery.attempts + 1;
  const changes: AttemptChanges = attempt.ok
    ? {
        status: 'delivered',
        attempts,
        lastStatusCode: attempt.statusCode,
        deliveredAt: new Date(now).toISOString(),
      }
    : failedAttempt(deps, attempts, attempt, now);
  const recorded = await deps.store.recordAttempt(ref, delivery.attempts, changes);
  if (!recorded) return { kind: 'done' }; // another worker recorded this attempt
  countMetric(attempt.ok ? 'EventDelivered' : 'EventAttemptFailed');
  if (recorded.status === 'failed') countMetric('EventDeliveryFailed');
  // Age from the event's commit to this outcome: the alarm's "oldest undelivered" on the way.
  countMetric(
    'EventDeliveryAgeMs',
    Math.max(0, now - Date.parse(event.occurredAt)),
    'Milliseconds',
  );
  if (recorded.status === 'pending' && recorded.nextAttemptAt) {
    return { kind: 'later', afterMs: Math.max(0, Date.parse(recorded.nextAttemptAt) - now) };
  }
  return { kind: 'done', delivery: recorded };
}

type Attempt =
  | { readonly ok: true; readonly statusCode: number }
  | {
      readonly ok: false;
      readonly statusCode?: number;
      readonly error: string;
      readonly gone: boolean;
    };

async function attemptOnce(
  deps: DeliveryDeps,
  endpoint: EndpointRecord,
  event: OnceflowEvent,
  now: number,
): Promise<Attempt> {
  let target: Awaited<ReturnType<typeof checkTarget>>;
  try {
    // Checked again at every attempt, and the connection pinned to the address checked.
    target = await checkTarget(endpoint.url, deps.resolver, deps.policy);
  } catch (error) {
    if (!(error instanceof ForbiddenTargetError)) throw error;
    countMetric('EventTargetRefused');
    return { ok: false, error: `refused: ${error.message}`, gone: false };
  }
  const body = webhookBody(event);
  const timestamp = Math.floor(now / 1000);
  const secrets = signingSecrets(endpoint, await deps.box(), now);
  try {
    const answer = await deps.transport.post({
      target,
      body,
      timeoutMs: deps.timeoutMs ?? 10_000,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'onceflow-webhooks/1',
        'webhook-id': event.eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, event.eventId, timestamp, body),
      },
    });
    if (answer.status >= 200 && answer.status < 300) return { ok: true, statusCode: answer.status };
    const redirect = answer.status >= 300 && answer.status < 400 ? 'redirect not followed; ' : '';
    return {
      ok: false,
      statusCode: answer.status,
      error: `${redirect}HTTP ${answer.status}${answer.body ? `: ${answer.body}` : ''}`.slice(
        0,
        MAX_ERROR_CHARS,
      ),
      gone: answer.status === 410,
    };
  } catch (error) {
    return {
      ok: false,
      error: String((error as Error).message ?? error).slice(0, MAX_ERROR_CHARS),
      gone: false,
    };
  }
}

function failedAttempt(
  deps: DeliveryDeps,
  attempts: number,
  attempt: Extract<Attempt, { ok: false }>,
  now: number,
): AttemptChanges {
  const base = { attempts, lastError: attempt.error, ...optionalCode(attempt.statusCode) };
  const delay = RETRY_SCHEDULE_MS[attempts];
  if (attempt.gone || delay === undefined) return { status: 'failed', ...base };
  const jitter = Math.floor(delay * JITTER_SHARE * (deps.random ?? Math.random)());
  return {
    status: 'pending',
    ...base,
    nextAttemptAt: new Date(now + delay + jitter).toISOString(),
  };
}

/** A success ends the endpoint's failure run; a 410, or failures for 5 days, disables it. */
async function trackEndpointHealth(
  deps: DeliveryDeps,
  endpoint: EndpointRecord,
  attempt: Attempt,
  now: number,
): Promise<void> {
  const { tenantId, endpointId } = endpoint;
  const iso = new Date(now).toISOString();
  if (attempt.ok) {
    if (endpoint.failingSince) await deps.store.clearFailing(tenantId, endpointId);
    return;
  }
  let reason: string | undefined;
  if (attempt.gone) reason = 'gone';
  else {
    const failing = await deps.store.markFailing(tenantId, endpointId, iso);
    if (failing?.failingSince && now - Date.parse(failing.failingSince) >= DISABLE_AFTER_MS) {
      reason = 'failing';
    }
  }
  if (!reason) return;
  const disabled = await deps.store.disableEndpoint(tenantId, endpointId, reason, iso);
  if (disabled) {
    countMetric('EventEndpointDisabled');
    await tellDisabled(deps, disabled);
  }
}

async function tellDisabled(deps: DeliveryDeps, endpoint: EndpointRecord): Promise<void> {
  const { failed } = await deps.sink.accept([disabledEvent(endpoint)]);
  if (failed.length > 0)
    throw new Error('endpoint.disabled not dispatched; retried with the message');
  if (endpoint.disabledAt)
    await deps.store.markDisabledTold(endpoint.tenantId, endpoint.endpointId, endpoint.disabledAt);
}

function optionalCode(code: number | undefined): { lastStatusCode?: number } {
  return code === undefined ? {} : { lastStatusCode: code };
}
