/**
 * The counter fold: the campaigns table's change feed → each recipient transition's counter deltas
 * (from the record's old and new images) → one write per counted shard per batch, exactly once per
 * stream record under redelivery, batch retries, bisections, crashes and two readers of one shard.
 *
 * Why a sequence number guard is enough. DynamoDB Streams writes each record once, and "for each
 * item that is modified in a DynamoDB table, the stream records appear in the same sequence as the
 * actual modifications to the item" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html);
 * Lambda (and the local poller) hands a shard's records over in that order, retries from the first
 * failed record, and reads a child shard only after its parent. A shard's recipients share one
 * partition key (`CR#…#<shard>`), so their records come in one stream shard at a time, in order.
 * So each folded-counter item keeps the sequence number of the last record folded into it
 * (`foldSeq`), and the write that adds a batch's deltas is conditioned on it in the same request:
 * every record at or below it is already in the counts, every record above it is not. A batch given
 * again (a crash after the write and before the ack, a retry from an earlier failure, a second
 * reader) finds `foldSeq` at or past its records and adds nothing twice.
 *
 * Cost: one conditional write per counted shard per batch, instead of one counter item in every
 * transition's transaction (2 units each): a batch of 100 transitions of one shard is 1 write.
 */
import type { Clock } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { failpoint } from '../kernel/failpoints.js';
import type { StreamBatchResult, StreamChange } from '../kernel/stream-consumer.js';
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import type { CounterDeltas } from './campaign-store-counters.js';
import { FP_FOLD_AFTER_WRITE, FP_FOLD_BEFORE_WRITE } from './failpoints.js';
import { type CampaignShard, type CountedImage, countedImage } from './items.js';
import type { Totals } from './model.js';

/** One stream record's deltas for one shard's counts. */
export interface FoldEntry {
  readonly sequenceNumber: string;
  readonly deltas: CounterDeltas;
}

/** The folded counts' port (adapter: `campaign-store-fold.ts`). */
export interface FoldedCounters {
  /**
   * Adds the deltas of the entries (in sequence order) not yet folded into the shard's counts, and
   * moves its `foldSeq` to the last of them, in one conditional write. Returns how many entries
   * were new (0: every one was folded before).
   */
  fold(shard: CampaignShard, entries: readonly FoldEntry[]): Promise<number>;
  /** Each shard's folded counts (index = shard). */
  shards(tenantId: string, campaignId: string): Promise<Totals[]>;
}

export interface FoldDeps {
  readonly folded: FoldedCounters;
  readonly clock: Clock;
}

/**
 * How far the folded counts may trail the transitions they count before it is a fault: the
 * `CounterFoldLagSeconds` alarm's threshold, and the quiet time after which reconciliation and
 * repair trust a shard's folded counts to hold all of its transitions (`reconcile-counters.ts`).
 * Folding takes seconds (Lambda reads a shard ~4 times a second; a batch is one write a shard).
 */
export const FOLD_LAG_BOUND_SECONDS = 60;

/**
 * Counted shards written at once. A batch is at most 100 records of one stream shard; at 8 writes
 * in flight a batch touching every shard of three campaigns (96 writes) takes 12 round trips.
 */
const FOLD_CONCURRENCY = 8;

/** What a record moves: +1 on arrival, −1 on leaving, one status to another. */
export function deltasOf(
  before: CountedImage | undefined,
  after: CountedImage | undefined,
): CounterDeltas {
  const deltas: Partial<Record<keyof Totals, number>> = {};
  const add = (field: keyof Totals, n: number) => {
    deltas[field] = (deltas[field] ?? 0) + n;
  };
  if (before) {
    add('recipients', -1);
    add(before.status, -1);
  }
  if (after) {
    add('recipients', 1);
    add(after.status, 1);
  }
  return Object.fromEntries(Object.entries(deltas).filter(([, n]) => n !== 0));
}

interface ShardBatch {
  readonly shard: CampaignShard;
  /** Index of the group's first record in the batch: where a retry must start if it fails. */
  readonly firstIndex: number;
  readonly entries: FoldEntry[];
}

const shardKey = (c: CountedImage) => `${c.tenantId}\u0000${c.campaignId}\u0000${c.shard}`;

/**
 * Folds one batch (one stream shard, in sequence order). Answers the first record that must come
 * again: the first unreadable recipient image, or the first record of a shard whose write failed;
 * records after it that were folded come again too and are found in `foldSeq`.
 */
export async function foldCounters(
  changes: readonly StreamChange[],
  deps: FoldDeps,
): Promise<StreamBatchResult> {
  const groups = new Map<string, ShardBatch>();
  let unreadable: number | undefined;
  for (const [index, change] of changes.entries()) {
    let before: CountedImage | undefined;
    let after: CountedImage | undefined;
    try {
      before = countedImage(change.oldImage);
      after = countedImage(change.newImage);
    } catch (error) {
      logger.error('stream record not folded: failed so that it reaches the DLQ', {
        sequenceNumber: change.sequenceNumber,
        error: error instanceof Error ? error.message : String(error),
      });
      unreadable = index;
      break;
    }
    const counted = after ?? before;
    if (!counted) continue;
    const deltas = deltasOf(before, after);
    if (Object.keys(deltas).length === 0) continue;
    const key = shardKey(counted);
    let group = groups.get(key);
    if (!group) {
      const { tenantId, campaignId, shard } = counted;
      group = { shard: { tenantId, campaignId, shard }, firstIndex: index, entries: [] };
      groups.set(key, group);
    }
    group.entries.push({ sequenceNumber: change.sequenceNumber, deltas });
  }

  let firstFailed = unreadable;
  failpoint(FP_FOLD_BEFORE_WRITE);
  await forEachWithConcurrency([...groups.values()], FOLD_CONCURRENCY, async (group) => {
    try {
      await deps.folded.fold(group.shard, group.entries);
    } catch (error) {
      logger.error('a shard of the batch was not folded: the batch comes again from it', {
        campaignId: group.shard.campaignId,
        shard: group.shard.shard,
        error: error instanceof Error ? error.name : 'Error',
      });
      firstFailed = Math.min(firstFailed ?? group.firstIndex, group.firstIndex);
    }
  });
  failpoint(FP_FOLD_AFTER_WRITE);

  const foldedThrough = firstFailed === undefined ? changes.at(-1) : changes[firstFailed - 1];
  if (foldedThrough) {
    countMetric(
      'CounterFoldLagSeconds',
      Math.max(0, Math.round((deps.clock.now() - Date.parse(foldedThrough.committedAt)) / 1000)),
      MetricUnit.Seconds,
    );
  }
  return firstFailed === undefined ? {} : { firstFailed };
}
