/**
 * Crash flows of the campaign counter fold: a crash after a batch's deltas were summed and before
 * any shard was written, and one after every shard of the batch was written (with its sequence
 * number) but before the batch was acknowledged. The local poller (Lambda's event source mapping)
 * sees the invocation fail and gives the records again, as Lambda would. Invariants: every
 * campaign's folded totals equal its listing status by status (nothing lost, nothing counted twice)
 * and the crash point fired once.
 */
import { expect } from 'vitest';
import { FP_FOLD_AFTER_WRITE, FP_FOLD_BEFORE_WRITE } from '../../functions/campaigns/failpoints.js';
import { armOnce, firedCount } from '../../functions/kernel/failpoints.js';
import {
  foldedTotals,
  foldHandler,
  foldWorld,
  listedTotals,
} from '../integration/campaigns/fold-support.js';
import { poll, stopPollers } from '../integration/events/feed-support.js';
import type { CrashFlow } from './flow.js';

async function foldThroughCrash(point: string): Promise<void> {
  const world = await foldWorld();
  const ids = [await world.campaign(7), await world.campaign(4)];
  const fold = foldHandler(world);
  armOnce(point);
  try {
    await (await poll(world.table, fold.handler, { batchSize: 100, retryAttempts: 2 })).drained();
  } finally {
    await stopPollers();
  }
  expect(firedCount(point)).toBe(1);
  for (const id of ids) {
    expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
  }
}

const flows: CrashFlow[] = [
  {
    name: 'campaign counter fold',
    failpoints: [FP_FOLD_BEFORE_WRITE, FP_FOLD_AFTER_WRITE],
    run: foldThroughCrash,
  },
];

export default flows;
