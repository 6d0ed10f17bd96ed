/**
 * When a fold group's recount may be compared with its folded count (`compareGroup`): only when no
 * recipient of it was written within the fold's lag bound and the fold did not write it while it
 * was recounted. A count merely not yet folded is inconclusive, never drift, and never repaired.
 */
import { describe, expect, it } from 'vitest';
import type {
  CampaignCounters,
  FoldedGroup,
  ShardRecount,
} from '../../functions/campaigns/campaign-store.js';
import { repairGroup } from '../../functions/campaigns/counter-repair.js';
import { emptyTotals, type Totals } from '../../functions/campaigns/model.js';
import { compareGroup, FOLD_LAG_BOUND_MS } from '../../functions/campaigns/reconcile-counters.js';
import { ManualClock } from '../../functions/kernel/clock.js';

const NOW = Date.parse('2026-12-07T08:00:00.000Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const totals = (pending: number, sent = 0): Totals => ({
  ...emptyTotals(),
  recipients: pending + sent,
  pending,
  sent,
});

/** A group whose folded reads answer `reads` in turn, whose recount answers `recount`. */
function shardStore(reads: FoldedGroup[], recount: ShardRecount) {
  const sets: Totals[] = [];
  let i = 0;
  const counters: CampaignCounters = {
    groups: async () => [],
    totals: async () => emptyTotals(),
    group: async () => reads[Math.min(i++, reads.length - 1)] as FoldedGroup,
    recount: async () => recount,
    setGroup: async (_t, _c, _g, _seen, next) => {
      sets.push(next);
      return true;
    },
  };
  return { deps: { store: { counters }, clock: new ManualClock(NOW) }, sets };
}

const folded = (
  t: Totals,
  seqs: ReadonlyMap<number, string> = new Map([[0, '0001']]),
  oldSeqs: ReadonlyMap<number, string> = new Map(),
): FoldedGroup => ({ totals: t, item: { group: 0, totals: t, seqs }, oldSeqs });

describe('a fold group is compared only once it is folded', () => {
  it('quiet past the lag bound and the fold not moving: conclusive, drift is the difference', async () => {
    const { deps } = shardStore([folded(totals(3)), folded(totals(3))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await compareGroup(deps as never, 't', 'c', 0)).toMatchObject({
      conclusive: true,
      drift: 2,
    });
  });

  it('a recipient written within the lag bound: inconclusive, and a repair writes nothing', async () => {
    const { deps, sets } = shardStore([folded(totals(3))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS - 1),
    });
    expect(await compareGroup(deps as never, 't', 'c', 0)).toEqual({
      conclusive: false,
      reason: 'written-within-lag-bound',
    });
    expect(await repairGroup(deps as never, 't', 'c', 0, true)).toMatchObject({
      repaired: false,
      drift: 0,
      inconclusive: true,
    });
    expect(sets).toEqual([]);
  });

  it('the fold wrote the group while it was recounted: inconclusive', async () => {
    const { deps } = shardStore([folded(totals(3)), folded(totals(2, 1), new Map([[0, '0002']]))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await compareGroup(deps as never, 't', 'c', 0)).toEqual({
      conclusive: false,
      reason: 'fold-moved',
    });
  });

  it('a sequence number moved with the counts unchanged, or an old shard moved in: inconclusive', async () => {
    const quiet = { totals: totals(3), lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1) };
    // A record that left the counts as they were (a status back and forth within the batch).
    const moved = shardStore([folded(totals(3)), folded(totals(3), new Map([[0, '0002']]))], quiet);
    expect(await compareGroup(moved.deps as never, 't', 'c', 0)).toMatchObject({
      reason: 'fold-moved',
    });
    // Shard 1's old per-shard counts moved into the group: the same totals, read two ways.
    const movedIn = shardStore(
      [
        folded(totals(3), new Map([[0, '0001']]), new Map([[1, '0007']])),
        folded(
          totals(3),
          new Map([
            [0, '0001'],
            [1, '0007'],
          ]),
        ),
      ],
      quiet,
    );
    expect(await compareGroup(movedIn.deps as never, 't', 'c', 0)).toMatchObject({
      reason: 'fold-moved',
    });
  });

  it('a conclusive drifting shard is repaired to the recount', async () => {
    const { deps, sets } = shardStore([folded(totals(4))], {
      totals: totals(2, 1),
      lastWrittenAt: ago(FOLD_LAG_BOUND_MS + 1),
    });
    expect(await repairGroup(deps as never, 't', 'c', 0, true)).toMatchObject({
      repaired: true,
      // |4 − 3| recipients + |4 − 2| pending + |0 − 1| sent
      drift: 4,
    });
    expect(sets).toEqual([totals(2, 1)]);
  });
});
