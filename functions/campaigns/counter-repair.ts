/**
 * Counter repair (`npx onceflow reconcile counters --execute`): sets a shard's counters to a recount
 * of its recipients, for drift the `CounterDrift` alarm reported (a bug found and fixed, or counter
 * items edited by hand). The reconciliation schedule itself never repairs (`reconcile-counters.ts`).
 *
 * Why the result is exact even while recipients move: every recipient transition moves its shard's
 * counters in the same transaction. So the shard's counter parts are read first, the recipients
 * recounted (strongly consistent queries), and the repair is one transaction that writes the counts
 * only if every counter part still holds exactly what was read. If it does, no recipient moved
 * between that read and the write, so the recount is the truth for that whole span; if a part
 * moved, the transaction fails and the shard is read, recounted and tried again.
 */
import type { CampaignDeps } from './campaign-store.js';
import { SHARDS } from './items.js';
import { totalsDifference as difference, emptyTotals, sumTotals } from './model.js';

/** Repair reads, recounts and sets counters: the store, no clock. */
export type CounterRepairDeps = Pick<CampaignDeps, 'store'>;

/** Attempts per shard before giving up on a shard that keeps moving. */
export const MAX_REPAIR_ATTEMPTS = 10;

export interface ShardRepair {
  readonly shard: number;
  /** Sum of |counter − recount| over the fields, before the repair. */
  readonly drift: number;
  readonly repaired: boolean;
  /** Reads and recounts it took (more than 1: the shard moved while being repaired). */
  readonly attempts: number;
}

export interface CampaignRepair {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly drift: number;
  readonly shards: readonly ShardRepair[];
  /** Shards that kept moving for `MAX_REPAIR_ATTEMPTS` tries: run it again when quieter. */
  readonly unsettledShards: number;
}

/**
 * Recounts one shard and, with `execute`, sets its counters to the recount (all of it on part 0,
 * the other parts to 0), retried while the shard keeps moving.
 */
export async function repairShard(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  shard: number,
  execute: boolean,
): Promise<ShardRepair> {
  const { counters } = deps.store;
  let firstDrift: number | undefined;
  for (let attempt = 1; attempt <= MAX_REPAIR_ATTEMPTS; attempt++) {
    const parts = await counters.parts(tenantId, campaignId, shard);
    const recount = await counters.recount(tenantId, campaignId, shard);
    const drift = difference(sumTotals(parts), recount);
    firstDrift ??= drift;
    if (drift === 0)
      return { shard, drift: firstDrift, repaired: firstDrift > 0, attempts: attempt };
    if (!execute) {
      // Dry run: a shard that moved between the read and the recount would show false drift;
      // read again and report only drift that holds still.
      const again = await counters.parts(tenantId, campaignId, shard);
      if (difference(sumTotals(again), sumTotals(parts)) === 0) {
        return { shard, drift, repaired: false, attempts: attempt };
      }
      firstDrift = undefined;
      continue;
    }
    const next = parts.map((_, part) => (part === 0 ? recount : emptyTotals()));
    if (await counters.setParts(tenantId, campaignId, shard, parts, next)) {
      return { shard, drift: firstDrift, repaired: true, attempts: attempt };
    }
    // A counter part moved since it was read: a recipient moved; read and recount again.
  }
  return { shard, drift: firstDrift ?? 0, repaired: false, attempts: MAX_REPAIR_ATTEMPTS };
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
  const drifting = shards.filter((s) => s.drift > 0);
  return {
    tenantId: campaign.tenantId,
    campaignId: campaign.campaignId,
    drift: drifting.reduce((n, s) => n + s.drift, 0),
    shards: drifting,
    unsettledShards: execute ? drifting.filter((s) => !s.repaired).length : 0,
  };
}
