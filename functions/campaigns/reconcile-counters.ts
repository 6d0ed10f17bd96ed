/**
 * Counter reconciliation: recounts each fold group (16 shards) of every active (and just completed)
 * campaign from its recipient items and compares with the group's folded counts, emitting
 * `CounterDrift` (the sum of absolute differences; expected 0). Counters are never "fixed" here: drift is a bug to find, not
 * a number to paper over (`counter-repair.ts` is the operator's tool for that).
 *
 * When a comparison is conclusive. The folded counts trail the transitions by the fold's lag, so a
 * group's recount and its folded counts are compared only when both describe the same moment:
 *
 * - **No recipient of the group was written within the lag bound** (`FOLD_LAG_BOUND_MS`, the
 *   `CounterFoldLagSeconds` alarm's minute) before the recount: every transition of the group was
 *   committed more than a minute ago, so the fold has folded it unless it trails by more than the
 *   alarm allows (and then that alarm fires). A write the recount cannot see in `updatedAt` (a
 *   recipient deleted) is not a transition the service makes.
 * - **The folded counts did not move while the group was recounted** (read before and after, the
 *   same sequence numbers and counts): nothing was folded in between.
 *
 * Anything else is inconclusive and looked at again next run, never reported as drift: a count
 * merely not yet folded is not drift, and a repair of it would count the transition twice once the
 * fold caught up.
 */
import type { Clock } from '../kernel/clock.js';
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import type { CampaignDeps, CampaignStore, FoldedGroup, ShardRecount } from './campaign-store.js';
import { FOLD_LAG_BOUND_SECONDS } from './counter-fold.js';
import { type CampaignItem, FOLD_GROUPS, SHARDS_PER_GROUP } from './items.js';
import { totalsDifference as difference, emptyTotals } from './model.js';

/** Reconciliation reads and recounts only: the store, and the clock the lag bound is read on. */
export type ReconcileDeps = Pick<CampaignDeps, 'store' | 'clock'>;

/** How long a group must have been left alone for its recount to be compared with its fold. */
export const FOLD_LAG_BOUND_MS = FOLD_LAG_BOUND_SECONDS * 1000;

export interface CampaignDrift {
  readonly campaignId: string;
  readonly drift: number;
  /** Shards not compared: those of the fold groups found inconclusive (16 a group). */
  readonly inconclusiveShards: number;
}

/** One fold group compared: its recount against its folded counts, or inconclusive (and why). */
export type GroupComparison =
  | {
      readonly conclusive: true;
      readonly folded: FoldedGroup;
      readonly recount: ShardRecount;
      /** Sum of |folded − recount| over the fields. */
      readonly drift: number;
    }
  | { readonly conclusive: false; readonly reason: 'written-within-lag-bound' | 'fold-moved' };

/** Reads a group's folded counts, recounts it, reads them again: see the header. */
export async function compareGroup(
  deps: { readonly store: Pick<CampaignStore, 'counters'>; readonly clock: Clock },
  tenantId: string,
  campaignId: string,
  group: number,
): Promise<GroupComparison> {
  const { counters } = deps.store;
  const before = await counters.group(tenantId, campaignId, group);
  const recount = await counters.recount(tenantId, campaignId, group);
  const quietSince = new Date(deps.clock.now() - FOLD_LAG_BOUND_MS).toISOString();
  if (recount.lastWrittenAt !== undefined && recount.lastWrittenAt > quietSince) {
    return { conclusive: false, reason: 'written-within-lag-bound' };
  }
  const after = await counters.group(tenantId, campaignId, group);
  if (!sameFold(before, after)) return { conclusive: false, reason: 'fold-moved' };
  return {
    conclusive: true,
    folded: after,
    recount,
    drift: difference(after.totals, recount.totals),
  };
}

/** Whether two reads of a group show the same fold: its counts and every sequence number. */
export function sameFold(a: FoldedGroup, b: FoldedGroup): boolean {
  const sameSeqs = (x: ReadonlyMap<number, string>, y: ReadonlyMap<number, string>) =>
    x.size === y.size && [...x].every(([shard, seq]) => y.get(shard) === seq);
  return (
    difference(a.totals, b.totals) === 0 &&
    (a.item === undefined) === (b.item === undefined) &&
    difference(a.item?.totals ?? emptyTotals(), b.item?.totals ?? emptyTotals()) === 0 &&
    sameSeqs(a.item?.seqs ?? new Map(), b.item?.seqs ?? new Map()) &&
    sameSeqs(a.oldSeqs, b.oldSeqs)
  );
}

export async function reconcileCampaign(
  deps: ReconcileDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId'>,
): Promise<CampaignDrift> {
  const { tenantId, campaignId } = campaign;
  const comparisons = await Promise.all(
    [...Array(FOLD_GROUPS).keys()].map((group) => compareGroup(deps, tenantId, campaignId, group)),
  );
  let drift = 0;
  let inconclusive = 0;
  for (const comparison of comparisons) {
    if (comparison.conclusive) drift += comparison.drift;
    else inconclusive += SHARDS_PER_GROUP;
  }
  return { campaignId, drift, inconclusiveShards: inconclusive };
}

/**
 * Reconciles every listed campaign. One campaign that fails (throttled, a bug, an item too odd to
 * read) is logged and counted (`CounterReconcileFailed`) and the others are still checked.
 */
export async function reconcileCampaignCounters(deps: ReconcileDeps): Promise<CampaignDrift[]> {
  const lists = [
    await deps.store.campaigns.inSweep('active'),
    await deps.store.campaigns.inSweep('paused'),
    await deps.store.campaigns.inSweep('completed'),
  ];
  for (const error of lists.flatMap((list) => list.unreadable)) {
    countMetric('CounterReconcileFailed');
    logger.error('an unreadable campaign was skipped; the others go on', { error });
  }
  const results: CampaignDrift[] = [];
  for (const campaign of lists.flatMap((list) => list.campaigns)) {
    let result: CampaignDrift;
    try {
      result = await reconcileCampaign(deps, campaign);
    } catch (error) {
      countMetric('CounterReconcileFailed');
      logger.error('counter reconciliation of one campaign failed; the others go on', {
        campaignId: campaign.campaignId,
        error,
      });
      continue;
    }
    results.push(result);
    countMetric('CounterDrift', result.drift, MetricUnit.Count);
    if (result.drift > 0) {
      logger.error('campaign counters drift from their recipients', { ...result });
    }
    // A completed campaign checked without doubt leaves the index: nothing moves it any more but
    // late delivery/read statuses, which the fold counts like any other transition.
    if (campaign.status === 'completed' && result.inconclusiveShards === 0) {
      // Not applied (it moved meanwhile) or failed: the next run looks again.
      await deps.store.campaigns
        .leaveSweep(campaign.tenantId, campaign.campaignId)
        .catch(() => undefined);
    }
  }
  return results;
}
