/**
 * Counter repair (`npx onceflow reconcile counters --execute`): sets a shard's folded counts to a
 * recount of its recipients, for drift the `CounterDrift` alarm reported (a bug found and fixed,
 * records lost to the fold's DLQ, folded items edited by hand). The reconciliation schedule itself
 * never repairs (`reconcile-counters.ts`).
 *
 * Why the result is exact even while the campaign runs: a shard is repaired only when its
 * comparison is conclusive (`compareShard`): no recipient of it written within the fold's lag
 * bound, so every transition it holds is already folded, and no fold write while it was recounted.
 * The repair is then one conditional write of the folded item, on condition that the fold has not
 * written it since it was read (`foldSeq` and counts unchanged). A count that is merely not yet
 * folded is never "repaired": the shard is inconclusive, and is retried until quiet or reported
 * unsettled (run it again later).
 */
import type { CampaignDeps } from './campaign-store.js';
import { SHARDS } from './items.js';
import { compareShard } from './reconcile-counters.js';

/** Repair reads, recounts and sets folded counts: the store, and the clock of the lag bound. */
export type CounterRepairDeps = Pick<CampaignDeps, 'store' | 'clock'>;

/** Attempts per shard before giving up on a shard that keeps moving. */
export const MAX_REPAIR_ATTEMPTS = 10;

export interface ShardRepair {
  readonly shard: number;
  /** Sum of |folded − recount| over the fields, before the repair. */
  readonly drift: number;
  readonly repaired: boolean;
  /** Reads and recounts it took (more than 1: the shard moved while being repaired). */
  readonly attempts: number;
  /** True when the shard was never quiet long enough to be compared: nothing was concluded. */
  readonly inconclusive?: boolean;
}

export interface CampaignRepair {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly drift: number;
  readonly shards: readonly ShardRepair[];
  /**
   * Shards not compared: written within the lag bound, or the fold kept moving for
   * `MAX_REPAIR_ATTEMPTS` tries. Nothing is concluded about them (their folded counts may simply
   * not have caught up yet).
   */
  readonly inconclusiveShards: number;
  /** With `execute`: drifting or inconclusive shards left unrepaired: run it again when quieter. */
  readonly unsettledShards: number;
}

/**
 * Compares one shard (conclusively, see `compareShard`) and, with `execute`, sets its folded
 * counts to the recount, retried while the fold keeps moving it.
 */
export async function repairShard(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  shard: number,
  execute: boolean,
): Promise<ShardRepair> {
  let firstDrift: number | undefined;
  for (let attempt = 1; attempt <= MAX_REPAIR_ATTEMPTS; attempt++) {
    const comparison = await compareShard(deps, tenantId, campaignId, shard);
    if (!comparison.conclusive) {
      // Written within the lag bound: no amount of retrying now makes it quiet; report it.
      if (comparison.reason === 'written-within-lag-bound') {
        return { shard, drift: 0, repaired: false, attempts: attempt, inconclusive: true };
      }
      continue;
    }
    const { drift } = comparison;
    firstDrift ??= drift;
    if (drift === 0)
      return { shard, drift: firstDrift, repaired: firstDrift > 0, attempts: attempt };
    if (!execute) return { shard, drift, repaired: false, attempts: attempt };
    const { folded, recount } = comparison;
    if (await deps.store.counters.setShard(tenantId, campaignId, shard, folded, recount.totals)) {
      return { shard, drift: firstDrift, repaired: true, attempts: attempt };
    }
    // The fold wrote the shard since it was read: compare again.
  }
  return {
    shard,
    drift: firstDrift ?? 0,
    repaired: false,
    attempts: MAX_REPAIR_ATTEMPTS,
    ...(firstDrift === undefined ? { inconclusive: true } : {}),
  };
}

export async function repairCampaignCounters(
  deps: CounterRepairDeps,
  campaign: { readonly tenantId: string; readonly campaignId: string },
  execute: boolean,
): Promise<CampaignRepair> {
  const shards: ShardRepair[] = [];
  for (let shard = 0; shard < SHARDS; shard += 8) {
    const batch = Array.from({ length: Math.min(8, SHARDS - shard) }, (_, i) => shard + i);
    shards.push(
      ...(await Promise.all(
        batch.map((s) => repairShard(deps, campaign.tenantId, campaign.campaignId, s, execute)),
      )),
    );
  }
  const reported = shards.filter((s) => s.drift > 0 || s.inconclusive);
  return {
    tenantId: campaign.tenantId,
    campaignId: campaign.campaignId,
    drift: shards.reduce((n, s) => n + s.drift, 0),
    shards: reported,
    inconclusiveShards: shards.filter((s) => s.inconclusive).length,
    unsettledShards: execute
      ? shards.filter((s) => s.inconclusive || (s.drift > 0 && !s.repaired)).length
      : 0,
  };
}
