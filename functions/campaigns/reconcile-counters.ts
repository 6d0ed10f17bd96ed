/**
 * Counter reconciliation: recounts each shard of every active (and just completed) campaign from
 * its recipient items and compares with the shard's folded counts, emitting `CounterDrift` (the sum
 * of absolute differences; expected 0). Counters are never "fixed" here: drift is a bug to find, not
 * a number to paper over (`counter-repair.ts` is the operator's tool for that).
 *
 * When a comparison is conclusive. The folded counts trail the transitions by the fold's lag, so a
 * shard's recount and its folded counts are compared only when both describe the same moment:
 *
 * - **No recipient of the shard was written within the lag bound** (`FOLD_LAG_BOUND_MS`, the
 *   `CounterFoldLagSeconds` alarm's minute) before the recount: every transition of the shard was
 *   committed more than a minute ago, so the fold has folded it unless it trails by more than the
 *   alarm allows (and then that alarm fires). A write the recount cannot see in `updatedAt` (a
 *   recipient deleted) is not a transition the service makes.
 * - **The folded counts did not move while the shard was recounted** (read before and after, the
 *   same `foldSeq` and counts): nothing was folded in between.
 *
 * Anything else is inconclusive and looked at again next run, never reported as drift: a count
 * merely not yet folded is not drift, and a repair of it would count the transition twice once the
 * fold caught up.
 */
import type { Clock } from '../kernel/clock.js';
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import type { CampaignDeps, CampaignStore, FoldedShard, ShardRecount } from './campaign-store.js';
import { FOLD_LAG_BOUND_SECONDS } from './counter-fold.js';
import { type CampaignItem, SHARDS } from './items.js';
import { totalsDifference as difference } from './model.js';

/** Reconciliation reads and recounts only: the store, and the clock the lag bound is read on. */
export type ReconcileDeps = Pick<CampaignDeps, 'store' | 'clock'>;

/** How long a shard must have been left alone for its recount to be compared with its fold. */
export const FOLD_LAG_BOUND_MS = FOLD_LAG_BOUND_SECONDS * 1000;

export interface CampaignDrift {
  readonly campaignId: string;
  readonly drift: number;
  readonly inconclusiveShards: number;
}

/** One shard compared: its recount against its folded counts, or inconclusive (and why). */
export type ShardComparison =
  | {
      readonly conclusive: true;
      readonly folded: FoldedShard;
      readonly recount: ShardRecount;
      /** Sum of |folded − recount| over the fields. */
      readonly drift: number;
    }
  | { readonly conclusive: false; readonly reason: 'written-within-lag-bound' | 'fold-moved' };

/** Reads a shard's folded counts, recounts it, reads them again: see the header. */
export async function compareShard(
  deps: { readonly store: Pick<CampaignStore, 'counters'>; readonly clock: Clock },
  tenantId: string,
  campaignId: string,
  shard: number,
): Promise<ShardComparison> {
  const { counters } = deps.store;
  const before = await counters.shard(tenantId, campaignId, shard);
  const recount = await counters.recount(tenantId, campaignId, shard);
  const quietSince = new Date(deps.clock.now() - FOLD_LAG_BOUND_MS).toISOString();
  if (recount.lastWrittenAt !== undefined && recount.lastWrittenAt > quietSince) {
    return { conclusive: false, reason: 'written-within-lag-bound' };
  }
  const after = await counters.shard(tenantId, campaignId, shard);
  if (after.foldSeq !== before.foldSeq || difference(after.totals, before.totals) !== 0) {
    return { conclusive: false, reason: 'fold-moved' };
  }
  return {
    conclusive: true,
    folded: after,
    recount,
    drift: difference(after.totals, recount.totals),
  };
}

export async function reconcileCampaign(
  deps: ReconcileDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId'>,
): Promise<CampaignDrift> {
  const { tenantId, campaignId } = campaign;
  const comparisons = await Promise.all(
    [...Array(SHARDS).keys()].map((shard) => compareShard(deps, tenantId, campaignId, shard)),
  );
  let drift = 0;
  let inconclusive = 0;
  for (const comparison of comparisons) {
    if (comparison.conclusive) drift += comparison.drift;
    else inconclusive += 1;
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
