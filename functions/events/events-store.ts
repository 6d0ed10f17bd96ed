/**
 * The events context's store: a port the domain modules take, and its DynamoDB adapter. Every
 * once-only write is one conditional write of the kernel (`putOnce` for the event log and each
 * delivery, `conditionalUpdate` for every change of a delivery or an endpoint).
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { decodeCursor, encodeCursor, keyAttribute } from '../kernel/cursor.js';
import { queryAll, sendFromCursor } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';
import { putOnce } from '../kernel/put-once.js';
import * as z from '../kernel/zod.js';
import {
  ATTEMPT_SHARDS,
  type DeliveryRecord,
  type DeliveryRef,
  type DeliveryStatus,
  deliveryItem,
  type EndpointRecord,
  EVENTS_SWEEP_INDEX,
  endpointItem,
  eventLogItem,
  keys,
  LOG_SHARDS,
  parseDelivery,
  parseEndpoint,
  parseEventLog,
  parseReplay,
  type ReplayCursor,
  type ReplayRecord,
  replayItem,
  sweepAtOf,
  sweepEntryKey,
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

/** A pending delivery the sweep found past its `sweepAt`. */
export interface OverdueDelivery {
  readonly delivery: DeliveryRecord;
  readonly sweepAt: string;
}

/** One page of a tenant's log, and where the next one starts (none: the log is read). */
export interface LogPage {
  readonly events: readonly OnceflowEvent[];
  readonly next?: ReplayCursor;
}

export interface AttemptsPage {
  readonly attempts: readonly DeliveryRecord[];
  readonly nextCursor: string | null;
}

export interface EventsStore {
  /** Keeps the event for replay; the same event twice is one item. */
  logEvent(event: OnceflowEvent): Promise<void>;

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

  /** Pending deliveries of one sweep shard whose `sweepAt` is past (at most `limit`). */
  overdueDeliveries(shard: number, now: string, limit: number): Promise<OverdueDelivery[]>;
  /**
   * Moves a rung delivery's `sweepAt` on, if it is still pending at `seenSweepAt` (a worker's
   * record meanwhile wins); a delivery no longer pending leaves the index. True when moved.
   */
  moveSweep(ref: DeliveryRef, seenSweepAt: string, nextSweepAt: string): Promise<boolean>;

  /** A replay job, created once by its id; the job as it stands. */
  createReplay(record: ReplayRecord): Promise<ReplayRecord>;
  /** Up to `limit` events of the tenant's log since `since`, from `cursor` on. */
  logPage(tenantId: string, since: string, cursor: ReplayCursor, limit: number): Promise<LogPage>;
  /**
   * Saves a replay's progress if its cursor is still `seen` (another run's save of the same page
   * wins); `next` absent: the replay is done and leaves the sweep. The job as it now is, or
   * undefined when another run moved it first.
   */
  advanceReplay(
    replay: ReplayRecord,
    next: ReplayCursor | undefined,
    dispatched: number,
    now: string,
  ): Promise<ReplayRecord | undefined>;
  /** Running replays of one sweep shard (their keys' items, read consistently). */
  runningReplays(shard: number, now: string): Promise<ReplayRecord[]>;
}

const attemptsCursor = z.strictObject({
  shard: z.number().check(z.int(), z.gte(0), z.lte(ATTEMPT_SHARDS - 1)),
  key: z.optional(
    z.strictObject({
      pk: keyAttribute,
      sk: keyAttribute,
      gsi1pk: keyAttribute,
      gsi1sk: keyAttribute,
    }),
  ),
});

export class DynamoEventsStore implements EventsStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async logEvent(event: OnceflowEvent): Promise<void> {
    await putOnce(this.ddb, { table: this.table, item: eventLogItem(event) });
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
    // Pending: the sweep looks again past the next attempt; closed: it leaves the sweep index.
    const open = status === 'pending' && changes.nextAttemptAt !== undefined;
    if (open && changes.nextAttemptAt) set.sweepAt = sweepAtOf(changes.nextAttemptAt);
    const remove = [
      ...(changes.nextAttemptAt === undefined ? ['nextAttemptAt'] : []),
      ...(open ? [] : ['sweepPk', 'sweepAt']),
    ];
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle),
      set,
      ...(remove.length > 0 ? { remove } : {}),
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

  async overdueDeliveries(shard: number, now: string, limit: number) {
    const entries = await this.sweepEntries(keys.deliverySweep(shard), now, limit);
    const found = await batchGetAll(this.ddb, this.table, entries);
    const overdue: OverdueDelivery[] = [];
    for (const raw of found) {
      const sweepAt = typeof raw.sweepAt === 'string' ? raw.sweepAt : undefined;
      const delivery = parseDelivery(raw);
      // The index lags its table: an entry read before its delivery closed or moved on is skipped.
      if (delivery.status === 'pending' && sweepAt !== undefined && sweepAt <= now) {
        overdue.push({ delivery, sweepAt });
      }
    }
    return overdue;
  }

  async moveSweep(ref: DeliveryRef, seenSweepAt: string, nextSweepAt: string) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.delivery(ref.tenantId, ref.endpointId, ref.eventId, ref.cycle),
      set: { sweepAt: nextSweepAt },
      conditions: [
        {
          expression: '#status = :pending AND sweepAt = :seen',
          names: { '#status': 'status' },
          values: { ':pending': 'pending', ':seen': seenSweepAt },
        },
      ],
    });
    return out.applied;
  }

  async createReplay(record: ReplayRecord) {
    const out = await putOnce(this.ddb, { table: this.table, item: replayItem(record) });
    return out.created ? record : parseReplay(out.existing);
  }

  async logPage(tenantId: string, since: string, cursor: ReplayCursor, limit: number) {
    const pk = keys.logPartition(tenantId, cursor.shard);
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: { ':pk': pk, ':since': since },
        ConsistentRead: true,
        Limit: limit,
        ...(cursor.after !== undefined ? { ExclusiveStartKey: { pk, sk: cursor.after } } : {}),
      }),
    );
    const events = (out.Items ?? []).map(parseEventLog);
    const last = events.at(-1);
    if (out.LastEvaluatedKey && last) {
      return { events, next: { shard: cursor.shard, after: keys.logPosition(last) } };
    }
    return cursor.shard + 1 < LOG_SHARDS
      ? { events, next: { shard: cursor.shard + 1 } }
      : { events };
  }

  async advanceReplay(
    replay: ReplayRecord,
    next: ReplayCursor | undefined,
    dispatched: number,
    now: string,
  ) {
    const seen = replay.cursor;
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.replay(replay.tenantId, replay.endpointId, replay.replayId),
      set: {
        updatedAt: now,
        ...(next
          ? {
              cursorShard: next.shard,
              ...(next.after !== undefined ? { cursorAfter: next.after } : {}),
            }
          : { state: 'done' }),
      },
      add: { events: dispatched },
      remove: [
        ...(next?.after === undefined && next ? ['cursorAfter'] : []),
        ...(next ? [] : ['sweepPk', 'sweepAt']),
      ],
      conditions: [
        {
          expression:
            seen.after === undefined
              ? '#state = :running AND cursorShard = :shard AND attribute_not_exists(cursorAfter)'
              : '#state = :running AND cursorShard = :shard AND cursorAfter = :after',
          names: { '#state': 'state' },
          values: {
            ':running': 'running',
            ':shard': seen.shard,
            ...(seen.after !== undefined ? { ':after': seen.after } : {}),
          },
        },
      ],
    });
    return out.applied ? parseReplay(out.item) : undefined;
  }

  async runningReplays(shard: number, now: string) {
    const entries = await this.sweepEntries(keys.replaySweep(shard), now, 100);
    const found = await batchGetAll(this.ddb, this.table, entries);
    return found.map(parseReplay).filter((replay) => replay.state === 'running');
  }

  /** Keys of one sweep partition due by `now` (the index is keys only). */
  private async sweepEntries(sweepPk: string, now: string, limit: number) {
    const entries = await queryAll(
      this.ddb,
      {
        TableName: this.table,
        IndexName: EVENTS_SWEEP_INDEX,
        KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
        ExpressionAttributeValues: { ':pk': sweepPk, ':now': now },
      },
      { maxItems: limit },
    );
    return entries.map(sweepEntryKey);
  }

  private async get(key: Item): Promise<Item | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
    );
    return out.Item;
  }
}
