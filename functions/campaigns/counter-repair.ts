/**
 * Counter repair (`npx onceflow reconcile counters --execute`): sets a fold group's folded counts
 * (16 shards) to a recount of its recipients, for drift the `CounterDrift` alarm reported (a bug found and fixed,
 * records lost to the fold's DLQ, folded items edited by hand). The reconciliation schedule itself
 * never repairs (`reconcile-counters.ts`). A group without drift that still reads some shards from
 * the per-shard items of before the groups is moved in by the same write (its counts unchanged),
 * so a campaign created before its groups were born with it stops costing readers those keys.
 *
 * Why the result is exact even while the campaign runs: a group is repaired only when its
 * comparison is conclusive (`compareGroup`): no recipient of it written within the fold's lag
 * bound, so every transition it holds is already folded, and no fold write while it was recounted.
 * The repair is then one conditional write of the group's item, on condition that the fold has not
 * written it since it was read (sequence numbers and counts unchanged). A count that is merely not
 * yet folded is never "repaired": the group is inconclusive, and is retried until quiet or reported
 * unsettled (run it again later).
 */
import type { CampaignDeps } from './campaign-store.js';
import { FOLD_GROUPS, SHARDS_PER_GROUP, shardsOfGroup } from './items.js';
import { compareGroup } from './reconcile-counters.js';

/** Repair reads, recounts and sets folded counts: the store, and the clock of the lag bound. */
export type CounterRepairDeps = Pick<CampaignDeps, 'store' | 'clock'>;

/** Attempts per group before giving up on a group that keeps moving. */
export const MAX_REPAIR_ATTEMPTS = 10;

export interface GroupRepair {
  readonly group: number;
  /** Every shard the group counts (16, in order). */
  readonly shards: readonly number[];
  /** Sum of |folded − recount| over the fields, before the repair. */
  readonly drift: number;
  readonly repaired: boolean;
  /**
   * With `execute`, a group without drift whose item did not hold every shard yet (a campaign
   * created before its groups were born with it): every shard was moved in, its counts unchanged,
   * so readers no longer read the per-shard items of before the groups for it.
   */
  readonly movedIn?: true;
  /** Reads and recounts it took (more than 1: the group moved while being repaired). */
  readonly attempts: number;
  /** True when the group was never quiet long enough to be compared: nothing was concluded. */
  readonly inconclusive?: boolean;
}

export interface CampaignRepair {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly drift: number;
  /** The fold groups that drifted or were inconclusive. */
  readonly groups: readonly GroupRepair[];
  /**
   * Shards not compared (16 a fold group): written within the lag bound, or the fold kept moving
   * for `MAX_REPAIR_ATTEMPTS` tries. Nothing is concluded about them (their folded counts may
   * simply not have caught up yet).
   */
  readonly inconclusiveShards: number;
  /** With `execute`: shards of drifting or inconclusive groups left unrepaired: run it again. */
  readonly unsettledShards: number;
  /** With `execute`: groups without drift whose shards were moved in (`GroupRepair.movedIn`). */
  readonly movedInGroups: number;
}

/**
 * Compares one fold group (conclusively, see `compareGroup`) and, with `execute`, sets its folded
 * counts to the recount, retried while the fold keeps moving it.
 */
export async function repairGroup(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  group: number,
  execute: boolean,
): Promise<GroupRepair> {
  const named = { group, shards: shardsOfGroup(group) };
  let firstDrift: number | undefined;
  for (let attempt = 1; attempt <= MAX_REPAIR_ATTEMPTS; attempt++) {
    const comparison = await compareGroup(deps, tenantId, campaignId, group);
    if (!comparison.conclusive) {
      // Written within the lag bound: no amount of retrying now makes it quiet; report it.
      if (comparison.reason === 'written-within-lag-bound') {
        return { ...named, drift: 0, repaired: false, attempts: attempt, inconclusive: true };
      }
      continue;
    }
    const { drift, folded, recount } = comparison;
    firstDrift ??= drift;
    // Counts right, but read partly from the per-shard items of before the groups: with `execute`,
    // the same write as a repair moves every shard in (its counts the recount, equal to them).
    const moveIn =
      execute && drift === 0 && shardsOfGroup(group).some((s) => !folded.item?.seqs.has(s));
    if (drift === 0 && !moveIn)
      return { ...named, drift: firstDrift, repaired: firstDrift > 0, attempts: attempt };
    if (!execute) return { ...named, drift, repaired: false, attempts: attempt };
    if (await deps.store.counters.setGroup(tenantId, campaignId, group, folded, recount.totals)) {
      return {
        ...named,
        drift: firstDrift,
        repaired: firstDrift > 0,
        ...(firstDrift === 0 ? { movedIn: true as const } : {}),
        attempts: attempt,
      };
    }
    // The fold wrote the group since it was read: compare again.
  }
  return {
    ...named,
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
  const groups = await Promise.all(
    Array.from({ length: FOLD_GROUPS }, (_, group) =>
      repairGroup(deps, campaign.tenantId, campaign.campaignId, group, execute),
    ),
  );
  const reported = groups.filter((g) => g.drift > 0 || g.inconclusive);
  return {
    tenantId: campaign.tenantId,
    campaignId: campaign.campaignId,
    drift: groups.reduce((n, g) => n + g.drift, 0),
    groups: reported,
    inconclusiveShards: groups.filter((g) => g.inconclusive).length * SHARDS_PER_GROUP,
    unsettledShards: execute
      ? groups.filter((g) => g.inconclusive || (g.drift > 0 && !g.repaired)).length *
        SHARDS_PER_GROUP
      : 0,
    movedInGroups: groups.filter((g) => g.movedIn).length,
  };
}
