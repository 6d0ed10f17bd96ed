/**
 * Campaign counters: one item per shard, moved in the same transaction as the recipient
 * transition it counts, and summed on read. Counting contacts, not attempts, falls out of that:
 * a transition happens once per contact and state, whatever retries came before it.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from '../kernel/atomic.js';
import { retryOnConflict } from '../kernel/retry.js';
import { type TransitionInput, type TransitionResult, transition } from '../kernel/transition.js';
import {
  COUNTER_SPREAD,
  counterKey,
  emptyTotals,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  SHARDS,
  type Totals,
} from './model.js';

export type CounterDeltas = Partial<Record<keyof Totals, number>>;

/** The counter write for `deltas` in one shard, to put in a transaction. */
export function counterWrite(
  table: string,
  tenantId: string,
  campaignId: string,
  shard: number,
  deltas: CounterDeltas,
): AtomicWrite {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const adds: string[] = [];
  Object.entries(deltas).forEach(([field, delta], i) => {
    if (!delta) return;
    names[`#c${i}`] = field;
    values[`:c${i}`] = delta;
    adds.push(`#c${i} :c${i}`);
  });
  return {
    label: 'counter',
    update: {
      table,
      key: counterKey(tenantId, campaignId, shard, Math.floor(Math.random() * COUNTER_SPREAD)),
      update: `ADD ${adds.join(', ')}`,
      names,
      values,
    },
  };
}

/** Deltas of one recipient moving from one status to another. */
export function moveDeltas(from: RecipientStatus, to: RecipientStatus): CounterDeltas {
  return from === to ? {} : { [from]: -1, [to]: 1 };
}

/** Reads every shard's counters (strongly consistent), per shard. */
export async function readShardCounters(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
): Promise<Totals[]> {
  const perShard = Array.from({ length: SHARDS }, () => emptyTotals());
  const all = Array.from({ length: SHARDS * COUNTER_SPREAD }, (_, i) =>
    counterKey(tenantId, campaignId, Math.floor(i / COUNTER_SPREAD), i % COUNTER_SPREAD),
  );
  // BatchGetItem takes 100 keys a call.
  const batches: Array<Array<Record<string, unknown>>> = [];
  for (let i = 0; i < all.length; i += 100) batches.push(all.slice(i, i + 100));
  await Promise.all(batches.map((batch) => readBatch(batch)));
  return perShard;

  async function readBatch(first: Array<Record<string, unknown>>): Promise<void> {
    let keys = first;
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      const out = await ddb.send(
        new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[table] ?? []) {
        const shard = Number(String(item.pk).split('#').at(-1));
        const totals = perShard[shard];
        if (!totals) continue;
        for (const field of ['recipients', ...RECIPIENT_STATUSES] as const) {
          const value = item[field];
          if (typeof value === 'number') totals[field] += value;
        }
      }
      keys = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Array<Record<string, unknown>>;
    }
  }
}

export function sumTotals(parts: readonly Totals[]): Totals {
  const sum = emptyTotals();
  for (const part of parts) {
    for (const field of Object.keys(sum) as Array<keyof Totals>) sum[field] += part[field];
  }
  return sum;
}

export async function readTotals(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
): Promise<Totals> {
  return sumTotals(await readShardCounters(ddb, table, tenantId, campaignId));
}

/**
 * A recipient transition with its counter write: counter items are shared by concurrent
 * transactions, so a `TransactionConflict` is expected now and then and simply retried (the guards
 * are re-evaluated, so a retry never applies a move twice).
 */
export function countedTransition(
  ddb: DynamoDBDocumentClient,
  input: TransitionInput,
): Promise<TransitionResult> {
  return retryOnConflict(() => transition(ddb, input));
}
