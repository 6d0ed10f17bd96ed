/**
 * The counters' adapter: one item per shard part, moved in the same transaction as the recipient
 * transition it counts (`counterWrite`, used by the other adapters), and summed on read. Counting
 * contacts, not attempts, falls out of that: a transition happens once per contact and state,
 * whatever retries came before it.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { queryItems } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import type { CampaignCounters } from './campaign-store.js';
import { COUNTER_SPREAD, keys, parseCounter, SHARDS } from './items.js';
import {
  emptyTotals,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  sumTotals,
  type Totals,
} from './model.js';

export type CounterDeltas = Partial<Record<keyof Totals, number>>;

const FIELDS = ['recipients', ...RECIPIENT_STATUSES] as const;

/**
 * The counter write for `deltas` in one shard, to put in a transaction: one of the shard's
 * `COUNTER_SPREAD` parts, picked at random.
 */
export function counterWrite(
  table: string,
  tenantId: string,
  campaignId: string,
  shard: number,
  deltas: CounterDeltas,
): AtomicWrite {
  const add = Object.fromEntries(
    Object.entries(deltas).filter((entry): entry is [string, number] => Boolean(entry[1])),
  );
  return conditionalUpdateWrite('counter', {
    table,
    key: keys.counter(tenantId, campaignId, shard, Math.floor(Math.random() * COUNTER_SPREAD)),
    add,
  });
}

/** Deltas of one recipient moving from one status to another. */
export function moveDeltas(from: RecipientStatus, to: RecipientStatus): CounterDeltas {
  return from === to ? {} : { [from]: -1, [to]: 1 };
}

export class DynamoCampaignCounters implements CampaignCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Every shard's counter parts with plain strongly consistent reads (`BatchGetItem`,
   * `ConsistentRead`), never a `TransactGetItems` snapshot: DynamoDB cancels a transactional read
   * of an item with a write in flight (`TransactionConflict`), and at 1,000 sends/s some counter
   * item always has one, so a snapshot read would fail exactly when the campaign is busiest.
   *
   * What that costs: while recipients are moving, the sum may catch one move between its two
   * halves (`pending - 1` read, `sending + 1` not yet), so a busy total is off by at most the moves
   * in flight during the read; once the campaign is quiet it is exact (every move is one
   * transaction, and the reads are strongly consistent). Nothing decides on a busy total: fan-out
   * only sizes a horizon with it, completion re-checks the recipients themselves (recovery),
   * reconciliation compares two reads and calls a shard that moved in between inconclusive.
   */
  async shards(tenantId: string, campaignId: string): Promise<Totals[]> {
    const perShard = Array.from({ length: SHARDS }, () => emptyTotals());
    const partKeys = Array.from({ length: SHARDS * COUNTER_SPREAD }, (_, i) =>
      keys.counter(tenantId, campaignId, Math.floor(i / COUNTER_SPREAD), i % COUNTER_SPREAD),
    );
    for (const raw of await batchGetAll(this.ddb, this.table, partKeys)) {
      const { shard, totals } = parseCounter(raw);
      const sum = perShard[shard];
      if (sum) for (const field of FIELDS) sum[field] += totals[field];
    }
    return perShard;
  }

  async totals(tenantId: string, campaignId: string): Promise<Totals> {
    return sumTotals(await this.shards(tenantId, campaignId));
  }

  parts(tenantId: string, campaignId: string, shard: number): Promise<Totals[]> {
    return Promise.all(
      Array.from({ length: COUNTER_SPREAD }, async (_, part) => {
        const raw = await readItem(
          this.ddb,
          this.table,
          keys.counter(tenantId, campaignId, shard, part),
        );
        return raw ? parseCounter(raw).totals : emptyTotals();
      }),
    );
  }

  async recount(tenantId: string, campaignId: string, shard: number): Promise<Totals> {
    const counts = emptyTotals();
    const items = queryItems(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ProjectionExpression: '#st',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: { ':pk': keys.recipientPartition(tenantId, campaignId, shard) },
      ConsistentRead: true,
    });
    for await (const item of items) {
      const status = item.status as RecipientStatus;
      if (RECIPIENT_STATUSES.includes(status)) counts[status] += 1;
      counts.recipients += 1;
    }
    return counts;
  }

  async setParts(
    tenantId: string,
    campaignId: string,
    shard: number,
    seen: readonly Totals[],
    next: readonly Totals[],
  ): Promise<boolean> {
    const writes = seen.map((was, part) =>
      setPartIfUnchanged(
        this.table,
        keys.counter(tenantId, campaignId, shard, part),
        was,
        next[part] ?? emptyTotals(),
        part,
      ),
    );
    const result = await retryOnConflict(() => writeAtomically(this.ddb, writes));
    return result.ok;
  }
}

/**
 * One counter part set to `next`, on condition that it still holds `seen` (a field never written
 * reads as 0, so 0 also accepts a missing attribute).
 */
function setPartIfUnchanged(
  table: string,
  key: ReturnType<typeof keys.counter>,
  seen: Totals,
  next: Totals,
  part: number,
): AtomicWrite {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const guards = FIELDS.map((field, i) => {
    names[`#f${i}`] = field;
    values[`:seen${i}`] = seen[field];
    return seen[field] === 0
      ? `(attribute_not_exists(#f${i}) OR #f${i} = :seen${i})`
      : `#f${i} = :seen${i}`;
  });
  return conditionalUpdateWrite(`part#${part}`, {
    table,
    key,
    set: Object.fromEntries(FIELDS.map((field) => [field, next[field]])),
    conditions: [{ expression: guards.join(' AND '), names, values }],
  });
}
