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
 *   endpoint on `gsi1` under one of `ATTEMPT_SHARDS` keys, newest first.
 */

import { itemReader } from '../kernel/item-reader.js';
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
};

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
  const optional = <K extends string>(name: K, value: string | undefined) =>
    value === undefined ? {} : ({ [name]: value } as Record<K, string>);
  return {
    tenantId: r.string('tenantId'),
    endpointId: r.string('endpointId'),
    url: r.string('url'),
    eventTypes: (r.optionalList('eventTypes') ?? []).map(String),
    ...optional('description', r.optionalString('description')),
    state: r.oneOf('state', ['active', 'disabled'] as const),
    secretSealed: r.string('secretSealed'),
    ...optional('previousSecretSealed', r.optionalString('previousSecretSealed')),
    ...optional('previousSecretUntil', r.optionalString('previousSecretUntil')),
    ...optional('failingSince', r.optionalString('failingSince')),
    ...optional('disabledAt', r.optionalString('disabledAt')),
    ...optional('disabledReason', r.optionalString('disabledReason')),
    ...optional('disabledToldAt', r.optionalString('disabledToldAt')),
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
  };
}

export function parseDelivery(raw: Item): DeliveryRecord {
  const r = itemReader(raw, 'delivery');
  const lastStatusCode = r.optionalNumber('lastStatusCode');
  const lastError = r.optionalString('lastError');
  const nextAttemptAt = r.optionalString('nextAttemptAt');
  const deliveredAt = r.optionalString('deliveredAt');
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
    ...(lastStatusCode !== undefined ? { lastStatusCode } : {}),
    ...(lastError !== undefined ? { lastError } : {}),
    ...(nextAttemptAt !== undefined ? { nextAttemptAt } : {}),
    createdAt: r.string('createdAt'),
    ...(deliveredAt !== undefined ? { deliveredAt } : {}),
  };
}
