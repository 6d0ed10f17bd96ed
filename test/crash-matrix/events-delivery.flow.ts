/**
 * Crash flows of the events delivery half: every failpoint between the dispatcher's writes and the
 * worker's is crashed once, then the world goes on as it would (the change feed hands the batch
 * back, SQS shows the crashed batch again, the clock moves to the next attempt). Invariants: every
 * event is delivered to every subscribed endpoint with its one id (a crash after the receiver
 * answered repeats that POST once, the same `webhook-id`), one delivery item per endpoint and event,
 * an entity's events in order; a 410 disables the endpoint and `endpoint.disabled` reaches the
 * other endpoint whatever crashed.
 */
import { expect } from 'vitest';
import { DELIVER_AFTER_HEALTH, DELIVER_AFTER_POST } from '../../functions/events/deliver.js';
import { DISPATCH_AFTER_LOG, DISPATCH_BEFORE_RING } from '../../functions/events/dispatch.js';
import { putEndpoint, replayEndpoint } from '../../functions/events/endpoints.js';
import { keys, REPLAY_PAGE, RERING_AFTER_MS } from '../../functions/events/items.js';
import type { OnceflowEvent } from '../../functions/events/model.js';
import { REPLAY_AFTER_PAGE } from '../../functions/events/replay.js';
import {
  reringOverdueDeliveries,
  SWEEP_AFTER_RING,
  SWEEP_BEFORE_RING,
  sweepEvents,
} from '../../functions/events/sweep.js';
import { armOnce, FailpointCrashError, firedCount } from '../../functions/kernel/failpoints.js';
import {
  dropQueuedMessages,
  type EventsWorld,
  eventsWorld,
  pump,
  startReceiver,
  sweepDepsOf,
  sweptWorld,
  testEvent,
  testTenantId,
  verifyDelivery,
} from '../integration/events/events-support.js';
import { untilItLands } from './crash-driver.js';
import type { CrashFlow } from './flow.js';

/** The change feed's behaviour: a failed or crashed batch is handed over again. */
async function acceptUntilTaken(world: EventsWorld, events: readonly OnceflowEvent[]) {
  let pending = [...events];
  for (let round = 0; pending.length > 0; round++) {
    if (round > 5) throw new Error('events never accepted');
    try {
      const { failed } = await world.sink.accept(pending);
      pending = pending.filter((e) => failed.includes(e.eventId));
    } catch (error) {
      if (!(error instanceof FailpointCrashError)) throw error;
    }
  }
}

/** SQS's behaviour: a crashed batch is shown again and worked again. */
async function pumpThroughCrashes(world: EventsWorld) {
  for (let round = 0; ; round++) {
    try {
      return await pump(world);
    } catch (error) {
      if (!(error instanceof FailpointCrashError) || round > 5) throw error;
    }
  }
}

const dispatchAndDeliver: CrashFlow = {
  name: 'events dispatch and delivery',
  failpoints: [DISPATCH_AFTER_LOG, DISPATCH_BEFORE_RING, DELIVER_AFTER_POST, DELIVER_AFTER_HEALTH],
  async run(point) {
    const world = await eventsWorld();
    const receiver = await startReceiver();
    const tenantId = testTenantId();
    const name = `crash-${tenantId}`;
    const { secret } = await putEndpoint(world.endpoints, tenantId, name, {
      url: receiver.url(name),
      eventTypes: ['*'],
    });
    const events = [0, 1, 2].map((seq) =>
      testEvent(tenantId, { seq, entityKey: 'conversation:c_crash', data: { seq } }),
    );
    armOnce(point);
    await acceptUntilTaken(world, events);
    await pumpThroughCrashes(world);
    expect(firedCount(point)).toBe(1);

    const seen = await receiver.deliveries(name);
    const ids = seen.map((d) => d.id);
    for (const event of events) {
      const copies = ids.filter((id) => id === event.eventId).length;
      // Once; twice only where the crash fell after the receiver's answer.
      expect(copies).toBeGreaterThanOrEqual(1);
      expect(copies).toBeLessThanOrEqual(
        point === DISPATCH_AFTER_LOG || point === DISPATCH_BEFORE_RING ? 1 : 2,
      );
    }
    const order = seen.map(
      (d) => (verifyDelivery(secret ?? '', d) as { data: { seq: number } }).data.seq,
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const attempts = (await world.store.listAttempts(tenantId, name, { limit: 50 })).attempts;
    expect(attempts.map((a) => a.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    expect(attempts.every((a) => a.status === 'delivered')).toBe(true);
  },
};

const goneDisables: CrashFlow = {
  name: 'events endpoint answering 410',
  failpoints: [DELIVER_AFTER_POST, DELIVER_AFTER_HEALTH],
  async run(point) {
    const world = await eventsWorld();
    const receiver = await startReceiver();
    const tenantId = testTenantId();
    const gone = `gone-${tenantId}`;
    const watcher = `watch-${tenantId}`;
    await putEndpoint(world.endpoints, tenantId, gone, {
      url: receiver.url(gone),
      eventTypes: ['*'],
    });
    await putEndpoint(world.endpoints, tenantId, watcher, {
      url: receiver.url(watcher),
      eventTypes: ['endpoint.disabled'],
    });
    await receiver.behave(gone, { status: 410 });
    armOnce(point);
    await acceptUntilTaken(world, [testEvent(tenantId)]);
    await pumpThroughCrashes(world);
    expect(firedCount(point)).toBe(1);
    expect((await world.store.getEndpoint(tenantId, gone))?.state).toBe('disabled');
    const told = await receiver.deliveries(watcher);
    expect(new Set(told.map((d) => d.id)).size).toBe(1);
    expect(
      told.every((d) => (JSON.parse(d.body) as { type: string }).type === 'endpoint.disabled'),
    ).toBe(true);
  },
};

const reringLost: CrashFlow = {
  name: 'events sweep ringing a dead-lettered delivery',
  failpoints: [SWEEP_BEFORE_RING, SWEEP_AFTER_RING],
  async run(point) {
    const { world, receiver, tenantId, name } = await sweptWorld('sweep');
    const event = testEvent(tenantId);
    await acceptUntilTaken(world, [event]);
    expect(await dropQueuedMessages(world)).toBe(1);
    world.clock.advance(RERING_AFTER_MS + 1_000);
    armOnce(point);
    // The schedule's next run after the crash (within SQS's 5 minute deduplication window).
    await untilItLands(() => reringOverdueDeliveries(sweepDepsOf(world)));
    expect(firedCount(point)).toBe(1);
    await pumpThroughCrashes(world);
    // A crash after the ring rang twice under one deduplication id: one message, one POST.
    expect((await receiver.deliveries(name)).map((d) => d.id)).toEqual([event.eventId]);
    const { attempts } = await world.store.listAttempts(tenantId, name, { limit: 10 });
    expect(attempts.map((a) => [a.status, a.attempts])).toEqual([['delivered', 1]]);
  },
};

const replayResumes: CrashFlow = {
  name: 'events replay job',
  failpoints: [REPLAY_AFTER_PAGE],
  async run(point) {
    const { world, receiver, tenantId, name } = await sweptWorld('sweep');
    // An entity in the log's first shard, so the crashed page is the first page of its events.
    const entityKey =
      Array.from({ length: 500 }, (_, i) => `conversation:c_r${i}`).find(
        (key) => keys.logShard(key) === 0,
      ) ?? '';
    const events = Array.from({ length: REPLAY_PAGE + 10 }, (_, seq) =>
      testEvent(tenantId, { seq, entityKey, data: { seq } }),
    );
    await acceptUntilTaken(world, events);
    await pumpThroughCrashes(world);
    const deps = { ...world.endpoints, dispatch: sweepDepsOf(world).dispatch };
    const request = {
      since: '2026-01-01T00:00:00.000Z',
      replayId: `rpl_${tenantId}`,
      hasTime: () => true,
    };
    armOnce(point);
    // The request crashes after its first page's dispatch, before the cursor is saved.
    await expect(replayEndpoint(deps, tenantId, name, request)).rejects.toThrow(
      FailpointCrashError,
    );
    expect(firedCount(point)).toBe(1);
    // The sweep continues from the saved cursor (the crashed page again, made once).
    await sweepEvents(sweepDepsOf(world), () => true);
    const done = await replayEndpoint(deps, tenantId, name, { ...request, hasTime: () => false });
    expect(done.state).toBe('done');
    await pumpThroughCrashes(world);
    const seen = (await receiver.deliveries(name)).map((d) => d.id);
    for (const event of events) {
      expect(seen.filter((id) => id === event.eventId).length, event.eventId).toBe(2);
    }
  },
};

export default [dispatchAndDeliver, goneDisables, reringLost, replayResumes];
