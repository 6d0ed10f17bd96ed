/**
 * Campaign counters: one item per shard, moved in the same transaction as the recipient
 * transition it counts, and summed on read. Counting contacts, not attempts, falls out of that:
 * a transition happens once per contact and state, whatever retries came before it.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from '../kernel/atomic.js';
import { conditionalUpdateWrite } from '../kernel/conditional-update.js';
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
  const add = Object.fromEntries(
    Object.entries(deltas).filter((entry): entry is [string, number] => Boolean(entry[1])),
  );
  return conditionalUpdateWrite('counter', {
    table,
    key: counterKey(tenantId, campaignId, shard, Math.floor(Math.random() * COUNTER_SPREAD)),
    add,
  });
}

/** Deltas of one recipient moving from one status to another. */
export function moveDeltas(from: RecipientStatus, to: RecipientStatus): CounterDeltas {
  return from === to ? {} : { [from]: -1, [to]: 1 };
}

/** Keys per `BatchGetItem` request (DynamoDB's limit). */
const BATCH_GET_KEYS = 100;
const BATCH_GET_ROUNDS = 8;

/**
 * Reads every shard's counter parts with plain strongly consistent reads (`BatchGetItem`,
 * `ConsistentRead`), never a `TransactGetItems` snapshot: DynamoDB cancels a transactional read of
 * an item with a write in flight (`TransactionConflict`), and at 1,000 sends/s some counter item
 * always has one, so a snapshot read would fail exactly when the campaign is busiest.
 *
 * What that costs: while recipients are moving, the sum may catch one move between its two halves
 * (`pending - 1` read, `sending + 1` not yet), so a busy total is off by at most the moves in flight
 * during the read; once the campaign is quiet it is exact (every move is one transaction, and the
 * reads are strongly consistent). Nothing decides on a busy total: fan-out only sizes a horizon with
 * it, completion re-checks the recipients themselves (`recovery.ts`), reconciliation compares two
 * reads and calls a shard that moved in between inconclusive.
 */
export async function readShardCounters(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
): Promise<Totals[]> {
  const perShard = Array.from({ length: SHARDS }, () => emptyTotals());
  const keys = Array.from({ length: SHARDS * COUNTER_SPREAD }, (_, i) =>
    counterKey(tenantId, campaignId, Math.floor(i / COUNTER_SPREAD), i % COUNTER_SPREAD),
  );
  const items: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) {
    let pending: Record<string, unknown>[] = keys.slice(start, start + BATCH_GET_KEYS);
    for (let round = 0; pending.length > 0; round++) {
      if (round >= BATCH_GET_ROUNDS) {
        throw new Error(`counter read still throttled after ${BATCH_GET_ROUNDS} rounds`);
      }
      if (round > 0) await new Promise((r) => setTimeout(r, Math.random() * 25 * 2 ** round));
      const out = await ddb.send(
        new BatchGetCommand({
          RequestItems: { [table]: { Keys: pending, ConsistentRead: true } },
        }),
      );
      items.push(...(out.Responses?.[table] ?? []));
      pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  }
  for (const item of items) {
    const totals = perShard[Number(String(item.pk).split('#').at(-1))];
    if (!totals) continue;
    for (const field of ['recipients', ...RECIPIENT_STATUSES] as const) {
      const value = item[field];
      if (typeof value === 'number') totals[field] += value;
    }
  }
  return perShard;
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
