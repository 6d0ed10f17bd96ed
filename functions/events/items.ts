/**
 * The events context's items in the `events` table: the one `keys` object (the only place a key
 * string of this context is built or parsed), the item types and the parsers from raw items.
 *
 * - `EP#<tenant> / EP#<endpointId>`: an endpoint (url, event types, state, the signing secrets
 *   sealed with the platform's event key, `secret-box.ts`). One partition per tenant: the
 *   dispatcher reads it through a short cache, so its read rate is bounded by containers, not
 *   events.
 * - `EVLOG#<tenant>#<shard> / <occurredAt>#<eventId>`: every dispatched event, kept for replay.
 *   The shard is the entity's (`LOG_SHARDS`), so one entity's events sort in one partition, in the
 *   order they happened, and a tenant's log is never one hot partition.
 * - `DLV#<tenant>#<endpointId>#<eventId> / CYC#<cycle>`: one delivery of one event to one endpoint
 *   in one attempt cycle (`0` for the first dispatch, `r:<replayId>` for a replay). Created once
 *   (`putOnce`): a stream record seen twice or a batch retried never makes a second one. Listed per
 *   endpoint on `gsi1` under one of `ATTEMPT_SHARDS` keys, newest first. While pending it is also
 *   on the keys-only `sweep` index (`DSWEEP#<shard>`, due `RERING_AFTER_MS` after its next attempt
 *   was due), where the events sweep finds a delivery whose queue message was lost (`rering.ts`).
 * - `RPLY#<tenant>#<endpointId> / <replayId>`: a replay job and its cursor in the log; on the
 *   `sweep` index (`RPSWEEP#<shard>`) while it has events left to dispatch.
 */

import { itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';
import { EVENT_TYPES, type EventData, type EventType, type OnceflowEvent } from './model.js';

export type Key = { readonly pk: string; readonly sk: string };

/**
 * Shards of a tenant's event log. Arithmetic: 10,000 events/s for one tenant (the whole
 * deployment's webhook rate) at one write unit each (an event item is under 1 KB) is 10,000 WCU/s;
 * over 16 shards 625 per partition, under DynamoDB's 1,000. A replay reads the 16 partitions.
 */
export const LOG_SHARDS = 16;

/**
 * Shards of an endpoint's attempts listing (`gsi1`). Each delivery rewrites its index entry about
 * twice (created, then delivered); one endpoint subscribed to 10,000 events/s is 20,000 index
 * writes/s, over 32 shards 625 per partition.
 */
export const ATTEMPT_SHARDS = 32;

/**
 * Shards of the deliveries' sweep keys. A delivery enters the index when created and moves (or
 * leaves) with each recorded attempt: about 2 index writes per delivery (keys only, one unit
 * each); 10,000 deliveries/s is 20,000 writes/s, over 32 shards 625 per partition.
 */
export const DELIVERY_SWEEP_SHARDS = 32;

/** Shards of the replay jobs' sweep keys: a handful of jobs, one write per page of 100 events. */
export const REPLAY_SWEEP_SHARDS = 4;

/** The events table's sparse, keys-only sweep index (`lib/manifest.ts`). */
export const EVENTS_SWEEP_INDEX = 'sweep';

/**
 * How long past its due time a pending delivery may go unrecorded before the sweep rings it again.
 * Its message, once due, is received within seconds unless it waits behind its group's head (an
 * earlier event of its entity still retrying) or is gone to the DLQ. A message that keeps being
 * received and not deleted (a worker crashing, or the head's batch failing around it) reaches
 * `maxReceiveCount` x visibility = 30 x 180 s = 5,400 s (90 min) before SQS moves it to the DLQ;
 * `RERING_AFTER_MS` is that plus 30 min of slack (2 h), so a ring never races a message that can
 * still be received for its own reasons, and a delivery whose message was dead-lettered is rung
 * at most ~2 h after it was due. A ring of a delivery still waiting behind its head is a
 * duplicate message in its own group, after the original: the worker re-reads the delivery and
 * finds it recorded (at most one extra message per delivery per 2 h of waiting).
 */
export const RERING_AFTER_MS = 2 * 3_600_000;

/** Events a replay page dispatches: one log query page, one cursor write. */
export const REPLAY_PAGE = 100;

export type EndpointState = 'active' | 'disabled';
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

function shardOf(value: string, shards: number): number {
  return Number.parseInt(sha256Hex(value).slice(0, 6), 16) % shards;
}

export const keys = {
  endpoint: (tenantId: string, endpointId: string): Key => ({
    pk: `EP#${tenantId}`,
    sk: `EP#${endpointId}`,
  }),
  /** The partition of a tenant's endpoints. */
  endpoints: (tenantId: string) => ({ pk: `EP#${tenantId}`, skPrefix: 'EP#' }),
  logShard: (entityKey: string) => shardOf(entityKey, LOG_SHARDS),
  logPartition: (tenantId: string, shard: number) => `EVLOG#${tenantId}#${shard}`,
  logSort: (occurredAt: string, eventId: string) => `${occurredAt}#${eventId}`,
  eventLog: (event: Pick<OnceflowEvent, 'tenantId' | 'entityKey' | 'occurredAt' | 'eventId'>) => ({
    pk: keys.logPartition(event.tenantId, keys.logShard(event.entityKey)),
    sk: keys.logSort(event.occurredAt, event.eventId),
  }),
  delivery: (tenantId: string, endpointId: string, eventId: string, cycle: string): Key => ({
    pk: `DLV#${tenantId}#${endpointId}#${eventId}`,
    sk: `CYC#${cycle}`,
  }),
  /** `gsi1`: one shard of an endpoint's deliveries. */
  attempts: (tenantId: string, endpointId: string, shard: number) =>
    `DLVS#${tenantId}#${endpointId}#${shard}`,
  attemptsOf: (tenantId: string, endpointId: string, eventId: string) =>
    keys.attempts(tenantId, endpointId, shardOf(eventId, ATTEMPT_SHARDS)),
  attemptsSort: (createdAt: string, eventId: string, cycle: string) =>
    `${createdAt}#${eventId}#${cycle}`,
  /** `sweep`: one shard of the pending deliveries. */
  deliverySweep: (shard: number) => `DSWEEP#${shard}`,
  deliverySweepOf: (eventId: string) => keys.deliverySweep(shardOf(eventId, DELIVERY_SWEEP_SHARDS)),
  replay: (tenantId: string, endpointId: string, replayId: string): Key => ({
    pk: `RPLY#${tenantId}#${endpointId}`,
    sk: replayId,
  }),
  /** `sweep`: one shard of the running replays. */
  replaySweep: (shard: number) => `RPSWEEP#${shard}`,
  replaySweepOf: (replayId: string) => keys.replaySweep(shardOf(replayId, REPLAY_SWEEP_SHARDS)),
  /** The log position after `event`, in its shard (a replay's cursor). */
  logPosition: (event: Pick<OnceflowEvent, 'occurredAt' | 'eventId'>) =>
    keys.logSort(event.occurredAt, event.eventId),
};

/** When a pending delivery due at `dueAt` is looked at by the sweep. */
export function sweepAtOf(dueAt: string): string {
  return new Date(Date.parse(dueAt) + RERING_AFTER_MS).toISOString();
}

// --- endpoints -------------------------------------------------------------------------------------

export type EndpointRecord = {
  readonly tenantId: string;
  readonly endpointId: string;
  readonly url: string;
  /** `['*']` or the types it subscribes to. */
  readonly eventTypes: readonly string[];
  readonly description?: string;
  readonly state: EndpointState;
  /** The signing secret, sealed (`secret-box.ts`): never the secret itself. */
  readonly secretSealed: string;
  /** The secret before the last rotation, sealed, signed with until `previousSecretUntil`. */
  readonly previousSecretSealed?: string;
  readonly previousSecretUntil?: string;
  /** When the endpoint's current run of failed attempts began; absent after a success. */
  readonly failingSince?: string;
  readonly disabledAt?: string;
  readonly disabledReason?: string;
  /** The `disabledAt` whose `endpoint.disabled` was handed to the dispatcher (told once). */
  readonly disabledToldAt?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
};

export type EndpointItem = Key & EndpointRecord;

export function endpointItem(record: EndpointRecord): EndpointItem {
  return { ...keys.endpoint(record.tenantId, record.endpointId), ...record };
}

export function parseEndpoint(raw: Item): EndpointRecord {
  const r = itemReader(raw, 'endpoint');
  return {
    tenantId: r.string('tenantId'),
    endpointId: r.string('endpointId'),
    url: r.string('url'),
    eventTypes: (r.optionalList('eventTypes') ?? []).map(String),
    state: r.oneOf('state', ['active', 'disabled'] as const),
    secretSealed: r.string('secretSealed'),
    ...withoutAbsent({
      description: r.optionalString('description'),
      previousSecretSealed: r.optionalString('previousSecretSealed'),
      previousSecretUntil: r.optionalString('previousSecretUntil'),
      failingSince: r.optionalString('failingSince'),
      disabledAt: r.optionalString('disabledAt'),
      disabledReason: r.optionalString('disabledReason'),
      disabledToldAt: r.optionalString('disabledToldAt'),
    }),
    createdAt: r.string('createdAt'),
    updatedAt: r.string('updatedAt'),
  };
}

export function subscribes(endpoint: EndpointRecord, type: EventType): boolean {
  return endpoint.eventTypes.includes('*') || endpoint.eventTypes.includes(type);
}

// --- the event log ---------------------------------------------------------------------------------

export type EventLogItem = Key & {
  readonly tenantId: string;
  readonly eventId: string;
  readonly type: EventType;
  readonly entityKey: string;
  readonly occurredAt: string;
  readonly data: EventData;
};

export function eventLogItem(event: OnceflowEvent): EventLogItem {
  return {
    ...keys.eventLog(event),
    tenantId: event.tenantId,
    eventId: event.eventId,
    type: event.type,
    entityKey: event.entityKey,
    occurredAt: event.occurredAt,
    data: event.data,
  };
}

export function parseEventLog(raw: Item): OnceflowEvent {
  const r = itemReader(raw, 'event');
  const data: Record<string, string | number | boolean | null> = {};
  for (const [name, value] of Object.entries(r.map('data'))) {
    if (
      value === null ||
      typeof value === 'string' ||
      typeof value === 'number' ||
      typeof value === 'boolean'
    ) {
      data[name] = value;
    }
  }
  return {
    tenantId: r.string('tenantId'),
    eventId: r.string('eventId'),
    type: r.oneOf('type', EVENT_TYPES),
    entityKey: r.string('entityKey'),
    occurredAt: r.string('occurredAt'),
    data,
  };
}

// --- deliveries ------------------------------------------------------------------------------------

/** What names one delivery: also the body of its queue message. */
export type DeliveryRef = {
  readonly tenantId: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly cycle: string;
  /** Where the event is in the log. */
  readonly entityKey: string;
  readonly occurredAt: string;
};

export type DeliveryRecord = DeliveryRef & {
  readonly type: EventType;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly lastStatusCode?: number;
  readonly lastError?: string;
  readonly nextAttemptAt?: string;
  readonly createdAt: string;
  readonly deliveredAt?: string;
};

export type DeliveryItem = Key &
  DeliveryRecord & {
    readonly gsi1pk: string;
    readonly gsi1sk: string;
    /** While pending: the sweep's key and when the sweep looks (`RERING_AFTER_MS` past due). */
    readonly sweepPk?: string;
    readonly sweepAt?: string;
  };

export function deliveryItem(ref: DeliveryRef, type: EventType, createdAt: string): DeliveryItem {
  return {
    ...keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle),
    ...ref,
    type,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: createdAt,
    createdAt,
    gsi1pk: keys.attemptsOf(ref.tenantId, ref.endpointId, ref.eventId),
    gsi1sk: keys.attemptsSort(createdAt, ref.eventId, ref.cycle),
    sweepPk: keys.deliverySweepOf(ref.eventId),
    sweepAt: sweepAtOf(createdAt),
  };
}

export function parseDelivery(raw: Item): DeliveryRecord {
  const r = itemReader(raw, 'delivery');
  return {
    tenantId: r.string('tenantId'),
    endpointId: r.string('endpointId'),
    eventId: r.string('eventId'),
    cycle: r.string('cycle'),
    entityKey: r.string('entityKey'),
    occurredAt: r.string('occurredAt'),
    type: r.oneOf('type', EVENT_TYPES),
    status: r.oneOf('status', DELIVERY_STATUSES),
    attempts: r.number('attempts'),
    createdAt: r.string('createdAt'),
    ...withoutAbsent({
      lastStatusCode: r.optionalNumber('lastStatusCode'),
      lastError: r.optionalString('lastError'),
      nextAttemptAt: r.optionalString('nextAttemptAt'),
      deliveredAt: r.optionalString('deliveredAt'),
    }),
  };
}

/** The sweep index's answer: a key to read the item by (the index holds keys only). */
export function sweepEntryKey(raw: Item): Key {
  const r = itemReader(raw, 'sweep entry');
  return { pk: r.string('pk'), sk: r.string('sk') };
}

// --- replay jobs -----------------------------------------------------------------------------------

/** Where a replay is in the tenant's log: a shard, and the position after the last event sent. */
export type ReplayCursor = { readonly shard: number; readonly after?: string };

export type ReplayRecord = {
  readonly tenantId: string;
  readonly endpointId: string;
  readonly replayId: string;
  readonly since: string;
  readonly state: 'running' | 'done';
  readonly cursor: ReplayCursor;
  /** Events dispatched so far (a page dispatched again after a crash is counted again). */
  readonly events: number;
  readonly createdAt: string;
  readonly updatedAt: string;
};

export function replayItem(record: ReplayRecord) {
  const { cursor, ...rest } = record;
  return {
    ...keys.replay(record.tenantId, record.endpointId, record.replayId),
    ...rest,
    cursorShard: cursor.shard,
    ...(cursor.after !== undefined ? { cursorAfter: cursor.after } : {}),
    // Swept at once: a replay the request could not finish is continued by the events sweep.
    ...(record.state === 'running'
      ? { sweepPk: keys.replaySweepOf(record.replayId), sweepAt: record.updatedAt }
      : {}),
  };
}

export function parseReplay(raw: Item): ReplayRecord {
  const r = itemReader(raw, 'replay');
  const after = r.optionalString('cursorAfter');
  return {
    tenantId: r.string('tenantId'),
    endpointId: r.string('endpointId'),
    replayId: r.string('replayId'),
    since: r.string('since'),
    state: r.oneOf('state', ['running', 'done'] as const),
    cursor: { shard: r.number('cursorShard'), ...(after !== undefined ? { after } : {}) },
    events: r.number('events'),
    createdAt: r.string('createdAt'),
    updatedAt: r.string('updatedAt'),
  };
}
