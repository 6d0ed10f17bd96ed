/**
 * Counter reconciliation: recounts each shard of every active (and just completed) campaign from
 * its recipient items and compares with the shard's counters, emitting `CounterDrift` (the sum of
 * absolute differences; expected 0). A shard whose counters moved while it was being recounted is
 * inconclusive and looked at again next run rather than reported as drift. Counters are never
 * "fixed" here: drift is a bug to find, not a number to paper over.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { countMetric, logger, MetricUnit } from '../kernel/telemetry.js';
import { recountShard } from './counter-repair.js';
import { readShardCounters } from './counters.js';
import {
  ACTIVE_CAMPAIGNS,
  type CampaignItem,
  campaignKey,
  emptyTotals,
  PAUSED_CAMPAIGNS,
  SHARDS,
  type Totals,
} from './model.js';
import { COMPLETED_CAMPAIGNS, listSweepCampaigns } from './recovery.js';

export interface ReconcileDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly table: string;
}

export interface CampaignDrift {
  readonly campaignId: string;
  readonly drift: number;
  readonly inconclusiveShards: number;
}

function same(a: Totals, b: Totals): boolean {
  return (Object.keys(a) as Array<keyof Totals>).every((k) => a[k] === b[k]);
}

function difference(a: Totals, b: Totals): number {
  return (Object.keys(a) as Array<keyof Totals>).reduce((sum, k) => sum + Math.abs(a[k] - b[k]), 0);
}

export async function reconcileCampaign(
  deps: ReconcileDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId'>,
): Promise<CampaignDrift> {
  const { tenantId, campaignId } = campaign;
  let drift = 0;
  let inconclusive = 0;
  const before = await readShardCounters(deps.ddb, deps.table, tenantId, campaignId);
  const recounts = await Promise.all(
    [...Array(SHARDS).keys()].map((shard) => recountShard(deps, tenantId, campaignId, shard)),
  );
  const after = await readShardCounters(deps.ddb, deps.table, tenantId, campaignId);
  for (let shard = 0; shard < SHARDS; shard++) {
    const b = before[shard] ?? emptyTotals();
    const a = after[shard] ?? emptyTotals();
    const recount = recounts[shard] ?? emptyTotals();
    if (!same(a, b)) {
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
  const active = await listSweepCampaigns(deps, ACTIVE_CAMPAIGNS);
  const paused = await listSweepCampaigns(deps, PAUSED_CAMPAIGNS);
  const completed = await listSweepCampaigns(deps, COMPLETED_CAMPAIGNS);
  const results: CampaignDrift[] = [];
  for (const campaign of [...active, ...paused, ...completed]) {
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
      // Not applied: it moved meanwhile, and the next run looks again.
      await conditionalUpdate(deps.ddb, {
        table: deps.table,
        key: campaignKey(campaign.tenantId, campaign.campaignId),
        remove: ['sweepPk', 'sweepAt'],
        conditions: [
          {
            expression: '#st = :completed',
            names: { '#st': 'status' },
            values: { ':completed': 'completed' },
          },
        ],
      }).catch(() => undefined);
    }
  }
  return results;
}
