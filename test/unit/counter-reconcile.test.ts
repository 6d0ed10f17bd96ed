/**
 * When a shard's recount may be compared with its folded count (`compareShard`): only when no
 * recipient of it was written within the fold's lag bound and the fold did not write it while it
 * was recounted. A count merely not yet folded is inconclusive, never drift, and never repaired.
 */
import { describe, expect, it } from 'vitest';
import type {
  CampaignCounters,
  FoldedShard,
  ShardRecount,
} from '../../functions/campaigns/campaign-store.js';
import { repairShard } from '../../functions/campaigns/counter-repair.js';
import { emptyTotals, type Totals } from '../../functions/campaigns/model.js';
import { compareShard, FOLD_LAG_BOUND_MS } from '../../functions/campaigns/reconcile-counters.js';
import { ManualClock } from '../../functions/kernel/clock.js';

const NOW = Date.parse('2026-12-07T08:00:00.000Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const totals = (pending: number, sent = 0): Totals => ({
  ...emptyTotals(),
  recipients: pending + sent,
  pending,
  sent,
});

/** A shard whose folded reads answer `reads` in turn, whose recount answers `recount`. */
function shardStore(reads: FoldedShard[], recount: ShardRecount) {
  const sets: Totals[] = [];
  let i = 0;
  const counters: CampaignCounters = {
    shards: async () => [],
    totals: async () => emptyTotals(),
    shard: async () => reads[Math.min(i++, reads.length - 1)] as FoldedShard,
    recount: async () => recount,
    setShard: async (_t, _c, _s, _seen, next) => {
      sets.push(next);
      return true;
    },
  };
  return { deps: { store: { counters }, clock: new ManualClock(NOW) }, sets };
}

const folded = (t: Totals, foldSeq = '0001'): FoldedShard => ({ totals: t, exists: true, foldSeq });

describe('a shard is compared only once it is folded', () => {
  it('quiet past the lag bound and the fold not moving: conclusive, drift is the difference', async () => {
    const { deps } = shardStore([folded(totals(3)), folded(totals(3))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await compareShard(deps as never, 't', 'c', 0)).toMatchObject({
      conclusive: true,
      drift: 2,
    });
  });

  it('a recipient written within the lag bound: inconclusive, and a repair writes nothing', async () => {
    const { deps, sets } = shardStore([folded(totals(3))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS - 1),
    });
    expect(await compareShard(deps as never, 't', 'c', 0)).toEqual({
      conclusive: false,
      reason: 'written-within-lag-bound',
    });
    expect(await repairShard(deps as never, 't', 'c', 0, true)).toMatchObject({
      repaired: false,
      drift: 0,
      inconclusive: true,
    });
    expect(sets).toEqual([]);
  });

  it('the fold wrote the shard while it was recounted: inconclusive', async () => {
    const { deps } = shardStore([folded(totals(3), '0001'), folded(totals(2, 1), '0002')], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await compareShard(deps as never, 't', 'c', 0)).toEqual({
      conclusive: false,
      reason: 'fold-moved',
    });
  });

  it('a conclusive drifting shard is repaired to the recount', async () => {
    const { deps, sets } = shardStore([folded(totals(4))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await repairShard(deps as never, 't', 'c', 0, true)).toMatchObject({
      repaired: true,
      // |4 − 3| recipients + |4 − 2| pending + |0 − 1| sent
      drift: 4,
    });
    expect(sets).toEqual([totals(2, 1)]);
  });
});
