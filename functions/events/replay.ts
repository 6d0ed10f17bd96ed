/**
 * Replay as a job (`POST /v1/event-endpoints/{endpointId}/replay` answers 202 at once): every kept
 * event of the tenant since `since`, delivered again to one endpoint with its own id, in a new
 * attempt cycle `r:<replayId>` (a new delivery item per event, so the earlier cycle's record stays
 * as it was).
 *
 * - **A job item with a cursor.** The request creates `RPLY#...` once by its replay id (derived
 *   from the request's `Idempotency-Key` when it has one, so a retried request is the same replay)
 *   and dispatches pages of `REPLAY_PAGE` events while it has time (a bounded part of the 29 s API
 *   limit); the events sweep continues the rest from the saved cursor, every minute.
 * - **Resumable, once per event.** After each page the cursor moves on in one write guarded on the
 *   cursor it started from. A crash between a page's dispatch and its save dispatches the page
 *   again: each delivery is `putOnce` by (endpoint, event, cycle) and rung under its deterministic
 *   id, so the second dispatch makes no second delivery. Two runs of one page (the request and the
 *   sweep) make the same deliveries, and the second save loses.
 * - **Order per entity**: the log is read shard by shard in time order and an entity lives in one
 *   shard, so its events are dispatched, and queued in its group, in the order they happened.
 */
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { createReplayDispatcher, type DispatcherDeps } from './dispatch.js';
import type { EventsStore } from './events-store.js';
import { REPLAY_PAGE, type ReplayRecord } from './items.js';

export const REPLAY_AFTER_PAGE = defineFailpoint(
  'events.replay.after-page',
  "a replay page's deliveries are dispatched; its cursor is not saved",
);

export interface ReplayDeps {
  readonly store: EventsStore;
  readonly clock: Clock;
  readonly dispatch: Omit<DispatcherDeps, 'store' | 'clock'>;
}

/** Creates the job (once by its id) and dispatches what it can while `hasTime()`. */
export async function startReplay(
  deps: ReplayDeps,
  job: { tenantId: string; endpointId: string; replayId: string; since: string },
  hasTime: () => boolean,
): Promise<ReplayRecord> {
  const now = new Date(deps.clock.now()).toISOString();
  const replay = await deps.store.createReplay({
    ...job,
    state: 'running',
    cursor: { shard: 0 },
    events: 0,
    createdAt: now,
    updatedAt: now,
  });
  return (await continueReplay(deps, replay, hasTime)).replay;
}

/** Pages of the replay from its saved cursor, while it runs and `hasTime()`. */
export async function continueReplay(
  deps: ReplayDeps,
  start: ReplayRecord,
  hasTime: () => boolean,
): Promise<{ replay: ReplayRecord; pages: number }> {
  const sink = createReplayDispatcher(
    { ...deps.dispatch, store: deps.store, clock: deps.clock },
    start.endpointId,
    start.replayId,
  );
  let replay = start;
  let pages = 0;
  while (replay.state === 'running' && hasTime()) {
    const page = await deps.store.logPage(
      replay.tenantId,
      replay.since,
      replay.cursor,
      REPLAY_PAGE,
    );
    if (page.events.length > 0) {
      const { failed } = await sink.accept(page.events);
      // Left for the next run from the same cursor (its dispatched part is kept once).
      if (failed.length > 0) throw new Error(`${failed.length} replayed events not dispatched`);
    }
    failpoint(REPLAY_AFTER_PAGE);
    const moved = await deps.store.advanceReplay(
      replay,
      page.next,
      page.events.length,
      new Date(deps.clock.now()).toISOString(),
    );
    if (!moved) break; // another run saved this page first; it goes on from there
    replay = moved;
    pages += 1;
  }
  return { replay, pages };
}
