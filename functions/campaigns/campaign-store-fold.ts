/**
 * The folded counts' adapter: one `CF#…#<shard> / FOLD` item per counted shard, moved only by the
 * fold (`counter-fold.ts`) with one conditional `UpdateItem` per shard per batch: `ADD` the deltas,
 * `SET foldSeq`, on condition that `foldSeq` is still below the batch's first record (or, after a
 * refusal, still what the refusal showed). The guard and the deltas are one request, so no crash
 * can leave one without the other.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import type { Condition } from '../kernel/update-expression.js';
import type { FoldEntry, FoldedCounters } from './counter-fold.js';
import { type CampaignShard, keys, parseFoldedCounter, SHARDS } from './items.js';
import { emptyTotals, type Totals } from './model.js';

/**
 * Stream sequence numbers are decimal strings of 21 to 40 digits (the Streams API's
 * `StreamRecord.SequenceNumber`, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html):
 * padded to 40 so that DynamoDB's string comparison in the condition is the numbers' order.
 */
export function foldSeqOf(sequenceNumber: string): string {
  return sequenceNumber.padStart(40, '0');
}

/** Refusals in a row before a shard's fold gives up (each means another reader moved it). */
const MAX_FOLD_TRIES = 5;

export class FoldedCounterMismatchError extends Error {
  override name = 'FoldedCounterMismatchError';
}

export class DynamoFoldedCounters implements FoldedCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async fold(shard: CampaignShard, entries: readonly FoldEntry[]): Promise<number> {
    const key = keys.foldedCounter(shard.tenantId, shard.campaignId, shard.shard);
    let todo = entries;
    // First try: nothing of this batch folded yet (the usual case, one write). Every record of the
    // shard at or below `foldSeq` is folded and none above it, so "below our first" means "none
    // of ours".
    let guard: Condition = {
      expression: 'attribute_not_exists(#seq) OR #seq < :first',
      names: { '#seq': 'foldSeq' },
      values: { ':first': foldSeqOf(todo[0]?.sequenceNumber ?? '0') },
    };
    for (let attempt = 1; attempt <= MAX_FOLD_TRIES; attempt++) {
      const add = sumDeltas(todo);
      const last = todo.at(-1);
      if (!last) return 0;
      const result = await conditionalUpdate(this.ddb, {
        table: this.table,
        key,
        add,
        set: { foldSeq: foldSeqOf(last.sequenceNumber) },
        conditions: [guard],
      });
      if (result.applied) return todo.length;
      // Part (or all) of the batch was folded before (a redelivery, a second reader): keep only
      // what lies past the `foldSeq` the refusal showed, and write on condition it still holds.
      const seen = result.current ? parseFoldedCounter(result.current).foldSeq : undefined;
      if (seen === undefined) throw new FoldedCounterMismatchError('refused without a foldSeq');
      todo = todo.filter((entry) => foldSeqOf(entry.sequenceNumber) > seen);
      guard = {
        expression: '#seq = :seen',
        names: { '#seq': 'foldSeq' },
        values: { ':seen': seen },
      };
    }
    throw new FoldedCounterMismatchError(`shard ${shard.shard} kept moving under the fold`);
  }

  async shards(tenantId: string, campaignId: string): Promise<Totals[]> {
    const perShard = Array.from({ length: SHARDS }, () => emptyTotals());
    const shardKeys = Array.from({ length: SHARDS }, (_, shard) =>
      keys.foldedCounter(tenantId, campaignId, shard),
    );
    const raws = await batchGetAll(this.ddb, this.table, shardKeys);
    for (const raw of raws) {
      const { shard, totals } = parseFoldedCounter(raw);
      perShard[shard] = totals;
    }
    return perShard;
  }
}

function sumDeltas(entries: readonly FoldEntry[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const entry of entries) {
    for (const [field, n] of Object.entries(entry.deltas))
      sum[field] = (sum[field] ?? 0) + (n ?? 0);
  }
  return Object.fromEntries(Object.entries(sum).filter(([, n]) => n !== 0));
}
