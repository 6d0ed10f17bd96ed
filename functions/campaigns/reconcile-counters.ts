/**
 * Counter reconciliation: recounts each shard of every active (and just completed) campaign from
 * its recipient items and compares with the shard's counters, emitting `CounterDrift` (the sum of
 * absolute differences; expected 0). A shard whose counters moved while it was being recounted is
 * inconclusive and looked at again next run rather than reported as drift. Counters are never
 * "fixed" here: drift is a bug to find, not a number to paper over.
 */
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import type { CampaignDeps } from './campaign-store.js';
import { type CampaignItem, SHARDS } from './items.js';
import { totalsDifference as difference, emptyTotals } from './model.js';

/** Reconciliation reads and recounts only: the store, no clock. */
export type ReconcileDeps = Pick<CampaignDeps, 'store'>;

export interface CampaignDrift {
  readonly campaignId: string;
  readonly drift: number;
  readonly inconclusiveShards: number;
}

export async function reconcileCampaign(
  deps: ReconcileDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId'>,
): Promise<CampaignDrift> {
  const { tenantId, campaignId } = campaign;
  let drift = 0;
  let inconclusive = 0;
  const { counters } = deps.store;
  const before = await counters.shards(tenantId, campaignId);
  const recounts = await Promise.all(
    [...Array(SHARDS).keys()].map((shard) => counters.recount(tenantId, campaignId, shard)),
  );
  const after = await counters.shards(tenantId, campaignId);
  for (let shard = 0; shard < SHARDS; shard++) {
    const b = before[shard] ?? emptyTotals();
    const a = after[shard] ?? emptyTotals();
    const recount = recounts[shard] ?? emptyTotals();
    if (difference(a, b) !== 0) {
      inconclusive += 1;
      continue;
    }
    drift += difference(a, recount);
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
    // late delivery/read statuses, which move counters in the same transactions.
    if (campaign.status === 'completed' && result.inconclusiveShards === 0) {
      // Not applied (it moved meanwhile) or failed: the next run looks again.
      await deps.store.campaigns
        .leaveSweep(campaign.tenantId, campaign.campaignId)
        .catch(() => undefined);
    }
  }
  return results;
}
