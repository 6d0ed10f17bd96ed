/**
 * The events context's store: a port the domain modules take, and its DynamoDB adapter. Every
 * once-only write is one conditional write of the kernel (`putOnce` for the event log and each
 * delivery, `conditionalUpdate` for every change of a delivery or an endpoint).
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { decodeCursor, encodeCursor, keyAttribute } from '../kernel/cursor.js';
import { queryAll, queryItems, sendFromCursor } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';
import { putOnce } from '../kernel/put-once.js';
import {
  ATTEMPT_SHARDS,
  type DeliveryRecord,
  type DeliveryRef,
  type DeliveryStatus,
  deliveryItem,
  type EndpointRecord,
  endpointItem,
  eventLogItem,
  keys,
  LOG_SHARDS,
  parseDelivery,
  parseEndpoint,
  parseEventLog,
} from './items.js';
import type { EventType, OnceflowEvent } from './model.js';

export interface AttemptContext {
  readonly delivery?: DeliveryRecord;
  readonly endpoint?: EndpointRecord;
  readonly event?: OnceflowEvent;
}

export interface EndpointChanges {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description?: string;
}

export interface AttemptChanges {
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly lastStatusCode?: number;
  readonly lastError?: string;
  readonly nextAttemptAt?: string;
  readonly deliveredAt?: string;
}

export interface AttemptsPage {
  readonly attempts: readonly DeliveryRecord[];
  readonly nextCursor: string | null;
}

export interface EventsStore {
  /** Keeps the event for replay; the same event twice is one item. */
  logEvent(event: OnceflowEvent): Promise<void>;
  /** Every event of the tenant that occurred at or after `since`, per log shard in time order. */
  eventsSince(tenantId: string, since: string): AsyncIterable<OnceflowEvent>;

  createEndpoint(record: EndpointRecord): Promise<{ created: boolean; endpoint: EndpointRecord }>;
  /** Changes an existing endpoint and enables it again; undefined when it does not exist. */
  updateEndpoint(
    tenantId: string,
    endpointId: string,
    changes: EndpointChanges,
    now: string,
  ): Promise<EndpointRecord | undefined>;
  getEndpoint(tenantId: string, endpointId: string): Promise<EndpointRecord | undefined>;
  listEndpoints(tenantId: string): Promise<EndpointRecord[]>;
  deleteEndpoint(tenantId: string, endpointId: string): Promise<boolean>;
  rotateSecret(
    tenantId: string,
    endpointId: string,
    sealed: { readonly current: string; readonly previous: string; readonly previousUntil: string },
    now: string,
  ): Promise<EndpointRecord | undefined>;
  /** Notes the start of a run of failures (kept if one is running); the endpoint as it now is. */
  markFailing(
    tenantId: string,
    endpointId: string,
    now: string,
  ): Promise<EndpointRecord | undefined>;
  /** Ends a run of failures (a 2xx). */
  clearFailing(tenantId: string, endpointId: string): Promise<void>;
  /** Active → disabled, once; the endpoint as it now is when this call disabled it. */
  disableEndpoint(
    tenantId: string,
    endpointId: string,
    reason: string,
    now: string,
  ): Promise<EndpointRecord | undefined>;

  /**
   * Notes that the `endpoint.disabled` of the disable at `disabledAt` was handed over, so the
   * endpoint's other pending deliveries close without telling it again (a re-enabled and again
   * disabled endpoint has another `disabledAt`, and is told again).
   */
  markDisabledTold(tenantId: string, endpointId: string, disabledAt: string): Promise<void>;

  /** The delivery of one event to one endpoint in one cycle, created once. */
  createDelivery(
    ref: DeliveryRef,
    type: EventType,
    createdAt: string,
  ): Promise<{ created: boolean; delivery: DeliveryRecord }>;
  getDelivery(ref: DeliveryRef): Promise<DeliveryRecord | undefined>;
  /** What one attempt needs, in one consistent read: the delivery, its endpoint and its event. */
  getAttemptContext(ref: DeliveryRef): Promise<AttemptContext>;
  /**
   * Records an attempt's outcome if the delivery is still pending after `seenAttempts` attempts
   * (another worker's record of the same attempt loses); the delivery as it now is, or undefined.
   */
  recordAttempt(
    ref: DeliveryRef,
    seenAttempts: number,
    changes: AttemptChanges,
  ): Promise<DeliveryRecord | undefined>;
  listAttempts(
    tenantId: string,
    endpointId: string,
    options: { readonly status?: DeliveryStatus; readonly cursor?: string; readonly limit: number },
  ): Promise<AttemptsPage>;
}

const attemptsCursor = z.strictObject({
  shard: z
    .number()
    .int()
    .min(0)
    .max(ATTEMPT_SHARDS - 1),
  key: z
    .strictObject({
      pk: keyAttribute,
      sk: keyAttribute,
      gsi1pk: keyAttribute,
      gsi1sk: keyAttribute,
    })
    .optional(),
});

export class DynamoEventsStore implements EventsStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async logEvent(event: OnceflowEvent): Promise<void> {
    await putOnce(this.ddb, { table: this.table, item: eventLogItem(event) });
  }

  async *eventsSince(tenantId: string, since: string): AsyncIterable<OnceflowEvent> {
    for (let shard = 0; shard < LOG_SHARDS; shard++) {
      const items = queryItems(this.ddb, {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: { ':pk': keys.logPartition(tenantId, shard), ':since': since },
        ConsistentRead: true,
      });
      for await (const raw of items) yield parseEventLog(raw);
    }
  }

  async createEndpoint(record: EndpointRecord) {
    const out = await putOnce(this.ddb, { table: this.table, item: endpointItem(record) });
    return out.created
      ? { created: true, endpoint: record }
      : { created: false, endpoint: parseEndpoint(out.existing) };
  }

  async updateEndpoint(
    tenantId: string,
    endpointId: string,
    changes: EndpointChanges,
    now: string,
  ) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      set: {
        url: changes.url,
        eventTypes: [...changes.eventTypes],
        state: 'active',
        updatedAt: now,
        ...(changes.description !== undefined ? { description: changes.description } : {}),
      },
      remove: ['failingSince', 'disabledAt', 'disabledReason', 'disabledToldAt'],
      conditions: [{ expression: 'attribute_exists(pk)' }],
    });
    return out.applied ? parseEndpoint(out.item) : undefined;
  }

  async getEndpoint(tenantId: string, endpointId: string) {
    const raw = await this.get(keys.endpoint(tenantId, endpointId));
    return raw ? parseEndpoint(raw) : undefined;
  }

  async listEndpoints(tenantId: string) {
    const { pk, skPrefix } = keys.endpoints(tenantId);
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      ExpressionAttributeValues: { ':pk': pk, ':sk': skPrefix },
      ConsistentRead: true,
    });
    return items.map(parseEndpoint);
  }

  async deleteEndpoint(tenantId: string, endpointId: string) {
    const out = await this.ddb.send(
      new DeleteCommand({
        TableName: this.table,
        Key: keys.endpoint(tenantId, endpointId),
        ReturnValues: 'ALL_OLD',
      }),
    );
    return out.Attributes !== undefined;
  }

  async rotateSecret(
    tenantId: string,
    endpointId: string,
    sealed: { current: string; previous: string; previousUntil: string },
    now: string,
  ) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      set: {
        secretSealed: sealed.current,
        previousSecretSealed: sealed.previous,
        previousSecretUntil: sealed.previousUntil,
        updatedAt: now,
      },
      // The secret read is the one replaced: two rotations at once cannot both keep "previous".
      conditions: [{ expression: 'secretSealed = :seen', values: { ':seen': sealed.previous } }],
    });
    return out.applied ? parseEndpoint(out.item) : undefined;
  }

  async markFailing(tenantId: string, endpointId: string, now: string) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      setIfAbsent: { failingSince: now },
      conditions: [{ expression: 'attribute_exists(pk)' }],
    });
    return out.applied ? parseEndpoint(out.item) : undefined;
  }

  async clearFailing(tenantId: string, endpointId: string) {
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      remove: ['failingSince'],
      conditions: [{ expression: 'attribute_exists(failingSince)' }],
    });
  }

  async disableEndpoint(tenantId: string, endpointId: string, reason: string, now: string) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      set: { state: 'disabled', disabledAt: now, disabledReason: reason, updatedAt: now },
      conditions: [
        {
          expression: '#state = :active',
          names: { '#state': 'state' },
          values: { ':active': 'active' },
        },
      ],
    });
    return out.applied ? parseEndpoint(out.item) : undefined;
  }

  async markDisabledTold(tenantId: string, endpointId: string, disabledAt: string) {
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.endpoint(tenantId, endpointId),
      set: { disabledToldAt: disabledAt },
      conditions: [{ expression: 'disabledAt = :at', values: { ':at': disabledAt } }],
    });
  }

  async createDelivery(ref: DeliveryRef, type: EventType, createdAt: string) {
    const out = await putOnce(this.ddb, {
      table: this.table,
      item: deliveryItem(ref, type, createdAt),
    });
    return out.created
      ? { created: true, delivery: parseDelivery(out.item) }
      : { created: false, delivery: parseDelivery(out.existing) };
  }

  async getDelivery(ref: DeliveryRef) {
    const raw = await this.get(keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle));
    return raw ? parseDelivery(raw) : undefined;
  }

  async getAttemptContext(ref: DeliveryRef): Promise<AttemptContext> {
    const wanted = {
      delivery: keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle),
      endpoint: keys.endpoint(ref.tenantId, ref.endpointId),
      event: keys.eventLog(ref),
    };
    const found = await batchGetAll(this.ddb, this.table, Object.values(wanted));
    const of = (key: Item) => found.find((item) => item.pk === key.pk && item.sk === key.sk);
    const delivery = of(wanted.delivery);
    const endpoint = of(wanted.endpoint);
    const event = of(wanted.event);
    return {
      ...(delivery ? { delivery: parseDelivery(delivery) } : {}),
      ...(endpoint ? { endpoint: parseEndpoint(endpoint) } : {}),
      ...(event ? { event: parseEventLog(event) } : {}),
    };
  }

  async recordAttempt(ref: DeliveryRef, seenAttempts: number, changes: AttemptChanges) {
    const { status, attempts, ...rest } = changes;
    const set: Record<string, unknown> = { status, attempts };
    for (const [name, value] of Object.entries(rest)) if (value !== undefined) set[name] = value;
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle),
      set,
      ...(changes.nextAttemptAt === undefined ? { remove: ['nextAttemptAt'] } : {}),
      conditions: [
        {
          expression: '#status = :pending AND attempts = :seen',
          names: { '#status': 'status' },
          values: { ':pending': 'pending', ':seen': seenAttempts },
        },
      ],
    });
    return out.applied ? parseDelivery(out.item) : undefined;
  }

  async listAttempts(
    tenantId: string,
    endpointId: string,
    options: { status?: DeliveryStatus; cursor?: string; limit: number },
  ): Promise<AttemptsPage> {
    const scope = {
      listing: 'event-attempts',
      tenantId,
      endpointId,
      status: options.status ?? null,
    };
    let position = decodeCursor(options.cursor, attemptsCursor, scope) ?? { shard: 0 };
    const found: DeliveryRecord[] = [];
    // The shards one after another, each newest first: a page may span two shards.
    while (found.length < options.limit) {
      const input = {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: {
          ':pk': keys.attempts(tenantId, endpointId, position.shard),
          ...(options.status ? { ':status': options.status } : {}),
        },
        ...(options.status
          ? {
              FilterExpression: '#status = :status',
              ExpressionAttributeNames: { '#status': 'status' },
            }
          : {}),
        ScanIndexForward: false,
        Limit: options.limit - found.length,
      };
      const out = await sendFromCursor(this.ddb, input, position.key);
      found.push(...(out.Items ?? []).map(parseDelivery));
      if (out.LastEvaluatedKey) {
        position = {
          shard: position.shard,
          key: out.LastEvaluatedKey as z.output<typeof attemptsCursor>['key'],
        };
      } else if (position.shard + 1 < ATTEMPT_SHARDS) {
        position = { shard: position.shard + 1 };
      } else {
        return { attempts: found, nextCursor: null };
      }
    }
    return { attempts: found, nextCursor: encodeCursor(position, scope) };
  }

  private async get(key: Item): Promise<Item | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
    );
    return out.Item;
  }
}
