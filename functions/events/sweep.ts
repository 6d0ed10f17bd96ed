/**
 * The events sweep (a schedule, every minute), over the events table's sparse `sweep` index:
 *
 * - **Deliveries whose doorbell is gone.** A pending delivery whose message went to the DLQ (its
 *   `maxReceiveCount` spent behind a failing head of its group, `lib/manifest.ts`) or was lost with
 *   a crash is never received again, while its record says `pending`. Past `RERING_AFTER_MS` after
 *   it was due, the sweep rings it again on its own group, with a deduplication id derived from the
 *   delivery and the `sweepAt` it was found at (two overlapping runs send one message), then moves
 *   its `sweepAt` on, guarded on the value it saw. The worker re-reads the delivery, so a ring of a
 *   delivery a worker is working on, or has just recorded, records nothing twice (`recordAttempt`
 *   is guarded on the attempt count). A crash between the ring and the move rings it again at the
 *   next run under the same id (SQS drops the copy within its 5 minute window; after it, the worker
 *   finds the delivery recorded or attempts it once).
 *   What it does not restore is order: a dead-lettered message already let its group's later
 *   events go first (SQS moves on past a DLQ'd message); the sweep makes sure it still arrives.
 * - **Replays the request did not finish** (`replay.ts`): continued page by page from their saved
 *   cursor, within the run's time budget.
 */
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import type { DeliveryBell } from './dispatch.js';
import type { EventsStore } from './events-store.js';
import {
  DELIVERY_SWEEP_SHARDS,
  type DeliveryRef,
  REPLAY_SWEEP_SHARDS,
  RERING_AFTER_MS,
} from './items.js';
import { continueReplay, type ReplayDeps } from './replay.js';

export const SWEEP_BEFORE_RING = defineFailpoint(
  'events.sweep.before-ring',
  'overdue deliveries found; not rung again yet',
);
export const SWEEP_AFTER_RING = defineFailpoint(
  'events.sweep.after-ring',
  'overdue deliveries rung again; their sweepAt not moved on',
);

/** Deliveries rung per shard per run: 32 shards x 200 = 6,400 a minute at most. */
const RERING_PER_SHARD = 200;

export interface SweepDeps extends ReplayDeps {
  readonly store: EventsStore;
  readonly bell: DeliveryBell;
  readonly clock: Clock;
}

export interface SweepReport {
  rerung: number;
  replayPages: number;
}

/** What the ring's deduplication id carries: the delivery is in it already (`deliveryMessage`). */
function ringRound(sweepAt: string): string {
  return `sweep:${sweepAt}`;
}

export async function reringOverdueDeliveries(deps: SweepDeps): Promise<number> {
  const now = deps.clock.now();
  const nowIso = new Date(now).toISOString();
  let rerung = 0;
  for (let shard = 0; shard < DELIVERY_SWEEP_SHARDS; shard++) {
    const overdue = await deps.store.overdueDeliveries(shard, nowIso, RERING_PER_SHARD);
    if (overdue.length === 0) continue;
    const roundOf = new Map<DeliveryRef, string>(
      overdue.map((o) => [o.delivery, ringRound(o.sweepAt)]),
    );
    // Rung first, moved after: a crash in between rings again under the same id.
    failpoint(SWEEP_BEFORE_RING);
    await deps.bell.ring(
      overdue.map((o) => o.delivery),
      (ref) => roundOf.get(ref) ?? 'sweep',
    );
    failpoint(SWEEP_AFTER_RING);
    const next = new Date(now + RERING_AFTER_MS).toISOString();
    for (const { delivery, sweepAt } of overdue) {
      if (await deps.store.moveSweep(delivery, sweepAt, next)) rerung += 1;
    }
  }
  return rerung;
}

/** One run: the overdue deliveries rung, then running replays continued while `hasTime()`. */
export async function sweepEvents(deps: SweepDeps, hasTime: () => boolean): Promise<SweepReport> {
  const rerung = await reringOverdueDeliveries(deps);
  let replayPages = 0;
  const nowIso = new Date(deps.clock.now()).toISOString();
  for (let shard = 0; shard < REPLAY_SWEEP_SHARDS; shard++) {
    for (const replay of await deps.store.runningReplays(shard, nowIso)) {
      if (!hasTime()) return { rerung, replayPages };
      replayPages += (await continueReplay(deps, replay, hasTime)).pages;
    }
  }
  return { rerung, replayPages };
}
