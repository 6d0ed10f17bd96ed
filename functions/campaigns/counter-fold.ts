/**
 * The counter fold: the campaigns table's change feed → each recipient transition's counter deltas
 * (from the record's old and new images) → one write per fold group (16 counted shards) per batch,
 * exactly once per stream record under redelivery, batch retries, bisections, crashes and two
 * readers of one shard.
 *
 * Why a sequence number guard is enough. DynamoDB Streams writes each record once, and "for each
 * item that is modified in a DynamoDB table, the stream records appear in the same sequence as the
 * actual modifications to the item" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html);
 * Lambda (and the local poller) hands a shard's records over in that order, retries from the first
 * failed record, and reads a child shard only after its parent. A shard's recipients share one
 * partition key (`CR#…#<shard>`), so their records come in one stream shard at a time, in order.
 * So a fold group's item keeps, for each shard it holds, the sequence number of the last record of
 * that shard folded into it (`q<shard>`), and the write that adds a batch's deltas is conditioned on
 * each of them in the same request: every record of the shard at or below it is already in the
 * counts, every record above it is not. A batch given again (a crash after the write and before the
 * ack, a retry from an earlier failure, a second reader) finds them at or past its records and adds
 * nothing twice.
 *
 * Cost: one conditional write per fold group per batch (2 groups), instead of one counter item in
 * every transition's transaction (2 units each): a batch of 100 transitions over every shard of a
 * campaign is 2 writes (it was one a counted shard, up to 32, before the groups).
 */
import type { Clock } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { failpoint } from '../kernel/failpoints.js';
import type { StreamBatchResult, StreamChange } from '../kernel/stream-consumer.js';
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import type { CounterDeltas } from './campaign-store-counters.js';
import { FP_FOLD_AFTER_WRITE, FP_FOLD_BEFORE_WRITE } from './failpoints.js';
import { type CampaignFoldGroup, type CountedImage, countedImage, foldGroupOf } from './items.js';
import type { Totals } from './model.js';

/** One stream record's deltas for one shard's counts. */
export interface FoldEntry {
  readonly sequenceNumber: string;
  readonly deltas: CounterDeltas;
}

/** The folded counts' port (adapter: `campaign-store-fold.ts`). */
export interface FoldedCounters {
  /**
   * Adds the deltas of the entries (each shard's in sequence order) not yet folded into the group's
   * counts, and moves each shard's sequence number to the last of its entries, in one conditional
   * write. Returns how many entries were new (0: every one was folded before).
   */
  fold(
    group: CampaignFoldGroup,
    byShard: ReadonlyMap<number, readonly FoldEntry[]>,
  ): Promise<number>;
  /** Each fold group's folded counts (index = group). */
  groups(tenantId: string, campaignId: string): Promise<Totals[]>;
}

export interface FoldDeps {
  readonly folded: FoldedCounters;
  readonly clock: Clock;
}

/**
 * How far the folded counts may trail the transitions they count before it is a fault: the
 * `CounterFoldLagSeconds` alarm's threshold, and the quiet time after which reconciliation and
 * repair trust a shard's folded counts to hold all of its transitions (`reconcile-counters.ts`).
 * Folding takes seconds (the mapping's 1 s batching window, then one write a fold group a batch).
 */
export const FOLD_LAG_BOUND_SECONDS = 60;

/**
 * Fold groups written at once. A batch is at most 100 records of one stream shard; at 8 writes in
 * flight a batch touching every group of 50 campaigns (100 writes) takes 13 round trips.
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

interface GroupBatch {
  readonly group: CampaignFoldGroup;
  /** Index of the group's first record in the batch: where a retry must start if it fails. */
  readonly firstIndex: number;
  /** Each shard's entries, in sequence order. */
  readonly byShard: Map<number, FoldEntry[]>;
}

const groupKey = (c: CountedImage) =>
  `${c.tenantId}\u0000${c.campaignId}\u0000${foldGroupOf(c.shard)}`;

/**
 * Folds one batch (one stream shard, in sequence order). Answers the first record that must come
 * again: the first unreadable recipient image, or the first record of a group whose write failed;
 * records after it that were folded come again too and are found in their shard's sequence number.
 */
export async function foldCounters(
  changes: readonly StreamChange[],
  deps: FoldDeps,
): Promise<StreamBatchResult> {
  const groups = new Map<string, GroupBatch>();
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
    const key = groupKey(counted);
    let group = groups.get(key);
    if (!group) {
      const { tenantId, campaignId, shard } = counted;
      group = {
        group: { tenantId, campaignId, group: foldGroupOf(shard) },
        firstIndex: index,
        byShard: new Map(),
      };
      groups.set(key, group);
    }
    const entries = group.byShard.get(counted.shard) ?? [];
    entries.push({ sequenceNumber: change.sequenceNumber, deltas });
    group.byShard.set(counted.shard, entries);
  }

  let firstFailed = unreadable;
  failpoint(FP_FOLD_BEFORE_WRITE);
  await forEachWithConcurrency([...groups.values()], FOLD_CONCURRENCY, async (group) => {
    try {
      await deps.folded.fold(group.group, group.byShard);
    } catch (error) {
      logger.error('a fold group of the batch was not folded: the batch comes again from it', {
        campaignId: group.group.campaignId,
        group: group.group.group,
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
