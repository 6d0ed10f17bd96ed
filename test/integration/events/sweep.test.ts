/**
 * The events sweep against DynamoDB Local, the SQS emulator and the receiver simulator, each world
 * on a table of its own (the sweep reads a whole table): a delivery whose queue message is gone
 * (dead-lettered, lost) still reaches its receiver, a ring racing a working worker records one
 * attempt, and a replay longer than the request's share runs to its end as a job.
 */
import { describe, expect, it } from 'vitest';
import { deliver } from '../../../functions/events/deliver.js';
import { replayEndpoint } from '../../../functions/events/endpoints.js';
import { type DeliveryRef, REPLAY_PAGE, RERING_AFTER_MS } from '../../../functions/events/items.js';
import { reringOverdueDeliveries, sweepEvents } from '../../../functions/events/sweep.js';
import { raceTrials } from '../../support/race.js';
import {
  dropQueuedMessages,
  firstDeliveryRef,
  pump,
  sweepDepsOf,
  sweptWorld,
  testEvent,
  verifyDelivery,
} from './events-support.js';

describe('the sweep of lost doorbells', () => {
  it('a delivery whose message went to the DLQ still reaches the receiver, once recorded', async () => {
    const { world, receiver, tenantId, name } = await sweptWorld('r');
    const event = testEvent(tenantId);
    expect(await world.sink.accept([event])).toEqual({ failed: [] });
    // SQS dead-letters the message: the delivery stays pending with no doorbell.
    expect(await dropQueuedMessages(world)).toBe(1);
    await pump(world);
    expect(await receiver.deliveries(name)).toEqual([]);

    // Not before its bound: a message that may still be received is not raced.
    world.clock.advance(RERING_AFTER_MS - 1_000);
    expect(await reringOverdueDeliveries(sweepDepsOf(world))).toBe(0);
    world.clock.advance(2_000);
    expect(await reringOverdueDeliveries(sweepDepsOf(world))).toBe(1);
    // Rung once per bound: the next run finds nothing due.
    expect(await reringOverdueDeliveries(sweepDepsOf(world))).toBe(0);
    await pump(world);

    expect((await receiver.deliveries(name)).map((d) => d.id)).toEqual([event.eventId]);
    const { attempts } = await world.store.listAttempts(tenantId, name, { limit: 10 });
    expect(attempts.map((a) => [a.eventId, a.status, a.attempts])).toEqual([
      [event.eventId, 'delivered', 1],
    ]);
    // Delivered: it left the sweep index, so a later run rings nothing.
    world.clock.advance(10 * RERING_AFTER_MS);
    expect(await reringOverdueDeliveries(sweepDepsOf(world))).toBe(0);
  });

  it('a ring racing a worker on the same delivery records one attempt', async () => {
    const { world, receiver, tenantId, name } = await sweptWorld('r');
    // Every attempt a worker recorded as the delivery's outcome (a losing record answers no delivery).
    let recorded = 0;
    // Slow enough that the worker is still posting when the rung message is worked.
    await receiver.behave(name, { latencyMs: 150 });
    const counted = async (ref: DeliveryRef) => {
      const outcome = await deliver(world.delivery, ref);
      if (outcome.kind === 'done' && outcome.delivery) recorded += 1;
      return outcome;
    };
    await raceTrials({
      trials: 8,
      maxStaggerMs: 5,
      setup: async () => {
        const event = testEvent(tenantId);
        await world.sink.accept([event]);
        // A worker has received the first message and is still working it (its visibility
        // outlived, or it is slow): the queue holds no message of this delivery.
        expect(await dropQueuedMessages(world)).toBe(1);
        world.clock.advance(RERING_AFTER_MS + 1_000);
        const ref: DeliveryRef = firstDeliveryRef(event, name);
        recorded = 0;
        return { event, ref };
      },
      contenders: ({ ref }) => [
        () => counted(ref),
        async () => {
          await reringOverdueDeliveries(sweepDepsOf(world));
          await pump(world, { deliverWith: counted });
        },
      ],
      check: async ({ event, ref }, outcomes) => {
        for (const o of outcomes) expect(o.status).toBe('fulfilled');
        await pump(world, { deliverWith: counted });
        expect(recorded).toBe(1);
        const delivery = await world.store.getDelivery(ref);
        expect([delivery?.status, delivery?.attempts]).toEqual(['delivered', 1]);
        const ids = (await receiver.deliveries(name)).map((d) => d.id);
        expect(ids.filter((id) => id === event.eventId).length).toBeGreaterThanOrEqual(1);
      },
    });
  });
});

describe('replay as a job', () => {
  it('a replay longer than the request runs to its end from its saved cursor: every event once, in order per entity', async () => {
    const { world, receiver, tenantId, name, secret } = await sweptWorld('r');
    // One entity with more events than a page (its shard is read in two pages), and another.
    const long = Array.from({ length: REPLAY_PAGE + 30 }, (_, seq) =>
      testEvent(tenantId, { seq, entityKey: 'conversation:c_long', data: { seq } }),
    );
    const short = Array.from({ length: 20 }, (_, seq) =>
      testEvent(tenantId, { seq, entityKey: 'conversation:c_short', data: { seq } }),
    );
    const all = [...long, ...short];
    expect(await world.sink.accept(all)).toEqual({ failed: [] });
    await pump(world);

    const deps = { ...world.endpoints, dispatch: sweepDepsOf(world).dispatch };
    const request = {
      since: '2026-01-01T00:00:00.000Z',
      replayId: `rpl_${tenantId}`,
      hasTime: (() => {
        let pages = 0;
        return () => pages++ < 1; // the request's share: one page
      })(),
    };
    const answer = await replayEndpoint(deps, tenantId, name, request);
    expect(answer).toMatchObject({ replayId: request.replayId, state: 'running' });
    expect(answer.events).toBeLessThanOrEqual(REPLAY_PAGE);

    // The sweep continues it (the same request again meanwhile is the same job).
    const again = await replayEndpoint(deps, tenantId, name, { ...request, hasTime: () => false });
    expect(again.replayId).toBe(request.replayId);
    const report = await sweepEvents(sweepDepsOf(world), () => true);
    expect(report.replayPages).toBeGreaterThan(1);
    const done = await replayEndpoint(deps, tenantId, name, { ...request, hasTime: () => true });
    expect(done).toMatchObject({ state: 'done', events: all.length });
    await pump(world);

    const seen = await receiver.deliveries(name);
    for (const event of all) {
      // The first delivery and the replay's: each event twice with its one id, never three times.
      expect(seen.filter((d) => d.id === event.eventId).length, event.eventId).toBe(2);
    }
    const replayed = seen.slice(all.length);
    for (const entity of ['conversation:c_long', 'conversation:c_short']) {
      const ids = new Set(all.filter((e) => e.entityKey === entity).map((e) => e.eventId));
      const order = replayed
        .filter((d) => ids.has(d.id ?? ''))
        .map((d) => (verifyDelivery(secret, d) as { data: { seq: number } }).data.seq);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });
});
