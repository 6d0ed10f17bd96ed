/**
 * Events out, the delivery half, against DynamoDB Local, the SQS emulator's FIFO queue and the
 * receiver simulator over HTTP; every delivery is verified with the reference Standard Webhooks
 * library (`standardwebhooks`), never with our own signer.
 */

import { WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it, vi } from 'vitest';
import {
  DISABLE_AFTER_MS,
  deliver,
  RETRY_SCHEDULE_MS,
  ROTATION_OVERLAP_MS,
} from '../../../functions/events/deliver.js';
import { sqsBell } from '../../../functions/events/deps.js';
import { putEndpoint, replayEndpoint, rotateSecret } from '../../../functions/events/endpoints.js';
import { raceTrials } from '../../support/race.js';
import {
  eventsWorld,
  firstDeliveryRef,
  pump,
  startReceiver,
  testEvent,
  testTenantId,
  verifyDelivery,
} from './events-support.js';

async function registered(
  world: Awaited<ReturnType<typeof eventsWorld>>,
  tenantId: string,
  name: string,
  eventTypes: string[] = ['*'],
) {
  const receiver = await startReceiver();
  const answer = await putEndpoint(world.endpoints, tenantId, name, {
    url: receiver.url(name),
    eventTypes,
  });
  if (!answer.secret) throw new Error('a new endpoint answers its secret');
  return { receiver, secret: answer.secret, name };
}

describe('a delivery', () => {
  it('is a Standard Webhooks POST the reference library verifies: id = event id, body {type, timestamp, data}', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const { receiver, secret, name } = await registered(world, tenantId, `r-${tenantId}`);
    const event = testEvent(tenantId, { type: 'message.sent' });
    expect(await world.sink.accept([event])).toEqual({ failed: [] });
    await pump(world);
    const [delivery, ...more] = await receiver.deliveries(name);
    expect(more).toEqual([]);
    expect(delivery?.id).toBe(event.eventId);
    expect(delivery?.contentType).toBe('application/json');
    if (!delivery) throw new Error('not delivered');
    expect(verifyDelivery(secret, delivery)).toEqual({
      type: 'message.sent',
      timestamp: event.occurredAt,
      data: event.data,
    });
    const attempts = await world.store.listAttempts(tenantId, name, { limit: 10 });
    expect(
      attempts.attempts.map((a) => [a.eventId, a.status, a.attempts, a.lastStatusCode]),
    ).toEqual([[event.eventId, 'delivered', 1, 200]]);
  });

  it('a tampered body, a wrong secret or a stale timestamp fails verification', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const { receiver, secret, name } = await registered(world, tenantId, `r-${tenantId}`);
    await world.sink.accept([testEvent(tenantId)]);
    await pump(world);
    const [delivery] = await receiver.deliveries(name);
    if (!delivery) throw new Error('not delivered');
    const tampered = delivery.body.replace('"seq":0', '"seq":1');
    expect(tampered).not.toBe(delivery.body);
    expect(() => verifyDelivery(secret, delivery, tampered)).toThrow(WebhookVerificationError);
    const other = await putEndpoint(world.endpoints, tenantId, `other-${tenantId}`, {
      url: receiver.url('unused'),
      eventTypes: ['*'],
    });
    expect(() => verifyDelivery(other.secret ?? '', delivery)).toThrow(WebhookVerificationError);
  });

  it('goes only to subscribed, active endpoints of its own tenant', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const otherTenant = testTenantId();
    const sent = await registered(world, tenantId, `sent-${tenantId}`, ['message.sent']);
    const all = await registered(world, tenantId, `all-${tenantId}`);
    const foreign = await registered(world, otherTenant, `foreign-${otherTenant}`);
    await world.sink.accept([testEvent(tenantId, { type: 'message.received' })]);
    await pump(world);
    expect(await sent.receiver.deliveries(sent.name)).toHaveLength(0);
    expect(await all.receiver.deliveries(all.name)).toHaveLength(1);
    expect(await foreign.receiver.deliveries(foreign.name)).toHaveLength(0);
  });
});

describe('retries', () => {
  it('follow the contract schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with jitter, then failed', async () => {
    const world = await eventsWorld({ random: () => 0.5 });
    const tenantId = testTenantId();
    const { receiver, secret, name } = await registered(world, tenantId, `r-${tenantId}`);
    await receiver.behave(name, { status: 503 });
    const start = world.clock.now();
    const event = testEvent(tenantId);
    await world.sink.accept([event]);
    await pump(world);
    const deliveries = await receiver.deliveries(name);
    expect(deliveries).toHaveLength(8);
    // Each attempt at its scheduled delay after the one before, plus 5% (jitter share 10% x 0.5).
    const times = deliveries.map((d) => Number(d.timestamp));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const expected = RETRY_SCHEDULE_MS.slice(1).map((ms) => Math.floor((ms * 1.05) / 1000));
    for (const [i, gap] of gaps.entries()) {
      expect(Math.abs(gap - (expected[i] as number))).toBeLessThanOrEqual(1);
    }
    expect(times[0]).toBe(Math.floor(start / 1000));
    for (const d of deliveries) {
      expect(d.id).toBe(event.eventId);
      verifyDelivery(secret, d);
    }
    const [attempt] = (await world.store.listAttempts(tenantId, name, { limit: 10 })).attempts;
    expect(attempt).toMatchObject({ status: 'failed', attempts: 8, lastStatusCode: 503 });
    expect(attempt?.lastError).toContain('HTTP 503');
  });

  it('a receiver that recovers gets the event on the next attempt, and the attempt count shows it', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const { receiver, name } = await registered(world, tenantId, `r-${tenantId}`);
    await receiver.behave(name, { status: 500 });
    await world.sink.accept([testEvent(tenantId)]);
    await pump(world, { maxRounds: 2 });
    const pending = (
      await world.store.listAttempts(tenantId, name, { limit: 10, status: 'pending' })
    ).attempts;
    expect(pending).toHaveLength(1);
    expect(pending[0]?.attempts).toBeGreaterThanOrEqual(1);
    await receiver.behave(name, { status: 200 });
    await pump(world);
    const [attempt] = (await world.store.listAttempts(tenantId, name, { limit: 10 })).attempts;
    expect(attempt?.status).toBe('delivered');
    expect((await receiver.deliveries(name)).filter((d) => d.answered === 200)).toHaveLength(1);
  });
});

describe('disabling', () => {
  it('a 410 disables the endpoint at once; endpoint.disabled reaches the tenant’s other endpoints', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const gone = await registered(world, tenantId, `gone-${tenantId}`);
    const watcher = await registered(world, tenantId, `watch-${tenantId}`, ['endpoint.disabled']);
    await gone.receiver.behave(gone.name, { status: 410 });
    const entityKey = 'conversation:c_one';
    await world.sink.accept([
      testEvent(tenantId, { seq: 0, entityKey }),
      testEvent(tenantId, { seq: 1, entityKey }),
    ]);
    await pump(world);
    // One attempt: the first 410 disabled it, the second event's delivery closed without a call.
    expect(await gone.receiver.deliveries(gone.name)).toHaveLength(1);
    expect((await world.store.getEndpoint(tenantId, gone.name))?.state).toBe('disabled');
    const told = await watcher.receiver.deliveries(watcher.name);
    expect(told).toHaveLength(1);
    const body = verifyDelivery(watcher.secret, told[0] as (typeof told)[number]) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(body.type).toBe('endpoint.disabled');
    expect(body.data).toMatchObject({ endpointId: gone.name, reason: 'gone' });
  });

  it('a disabled endpoint’s pending deliveries close without telling endpoint.disabled again', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const gone = await registered(world, tenantId, `gone-${tenantId}`);
    const watcher = await registered(world, tenantId, `watch-${tenantId}`, ['endpoint.disabled']);
    await gone.receiver.behave(gone.name, { status: 410 });
    // One entity's five events: the first answer (410) disables, the other four close after it.
    const entityKey = 'conversation:c_many';
    await world.sink.accept(
      Array.from({ length: 5 }, (_, seq) => testEvent(tenantId, { seq, entityKey })),
    );
    const logged = vi.spyOn(world.store, 'logEvent');
    await pump(world);
    const closed = (await world.store.listAttempts(tenantId, gone.name, { limit: 10 })).attempts;
    expect(closed.map((d) => d.status)).toEqual(Array(5).fill('failed'));
    expect(await gone.receiver.deliveries(gone.name)).toHaveLength(1);
    expect(await watcher.receiver.deliveries(watcher.name)).toHaveLength(1);
    // The endpoint.disabled event is kept (and its deliveries made) once, not once per closing.
    expect(logged.mock.calls.filter(([e]) => e.type === 'endpoint.disabled')).toHaveLength(1);
    logged.mockRestore();
  });

  it('an endpoint failing every attempt for 5 days is disabled, and only then', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const failing = await registered(world, tenantId, `fail-${tenantId}`);
    const watcher = await registered(world, tenantId, `watch-${tenantId}`, ['endpoint.disabled']);
    await failing.receiver.behave(failing.name, { status: 500 });
    const start = world.clock.now();
    // A new event every 12 hours keeps the endpoint attempted for days.
    for (let day = 0; world.clock.now() - start < DISABLE_AFTER_MS - 13 * 3_600_000; day++) {
      await world.sink.accept([testEvent(tenantId, { seq: day })]);
      await pump(world, { maxRounds: 4 });
      world.clock.advance(12 * 3_600_000);
      expect((await world.store.getEndpoint(tenantId, failing.name))?.state).toBe('active');
    }
    await world.sink.accept([testEvent(tenantId, { seq: 99 })]);
    await pump(world);
    const endpoint = await world.store.getEndpoint(tenantId, failing.name);
    expect(endpoint?.state).toBe('disabled');
    expect(endpoint?.disabledReason).toBe('failing');
    expect(Date.parse(endpoint?.disabledAt ?? '') - start).toBeGreaterThanOrEqual(DISABLE_AFTER_MS);
    const told = await watcher.receiver.deliveries(watcher.name);
    expect(told.map((d) => (JSON.parse(d.body) as { type: string }).type)).toEqual([
      'endpoint.disabled',
    ]);
  });
});

describe('secret rotation', () => {
  it('both signatures for 24 hours (each secret verifies), then only the new one', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const {
      receiver,
      secret: oldSecret,
      name,
    } = await registered(world, tenantId, `r-${tenantId}`);
    const { secret: newSecret } = await rotateSecret(world.endpoints, tenantId, name);
    await world.sink.accept([testEvent(tenantId)]);
    await pump(world);
    world.clock.advance(ROTATION_OVERLAP_MS + 1000);
    await world.sink.accept([testEvent(tenantId)]);
    await pump(world);
    const [during, after] = await receiver.deliveries(name);
    if (!during || !after) throw new Error('two deliveries expected');
    expect(during.signature?.split(' ')).toHaveLength(2);
    verifyDelivery(oldSecret, during);
    verifyDelivery(newSecret, during);
    expect(after.signature?.split(' ')).toHaveLength(1);
    verifyDelivery(newSecret, after);
    expect(() => verifyDelivery(oldSecret, after)).toThrow(WebhookVerificationError);
  });
});

describe('replay', () => {
  it('delivers every event since the time again, with the same ids, in a new attempt cycle', async () => {
    const world = await eventsWorld();
    const tenantId = testTenantId();
    const { receiver, name } = await registered(world, tenantId, `r-${tenantId}`);
    const events = [0, 1, 2, 3].map((seq) =>
      testEvent(tenantId, { seq, entityKey: 'conversation:c_same' }),
    );
    await world.sink.accept(events);
    await pump(world);
    const since = events[2]?.occurredAt ?? '';
    const answer = await replayEndpoint(
      { ...world.endpoints, dispatch: { bell: sqsBell(world.queue.url) } },
      tenantId,
      name,
      { since, replayId: `rpl_${tenantId}`, hasTime: () => true },
    );
    expect(answer).toMatchObject({ state: 'done', events: 2 });
    await pump(world);
    const ids = (await receiver.deliveries(name)).map((d) => d.id);
    expect(ids).toEqual([...events.map((e) => e.eventId), events[2]?.eventId, events[3]?.eventId]);
  });
});

describe('races', () => {
  it('the same event accepted concurrently (a stream record redelivered) → one delivery item, one POST', async () => {
    const world = await eventsWorld();
    const { receiver } = { receiver: await startReceiver() };
    await raceTrials({
      trials: 10,
      maxStaggerMs: 3,
      setup: async () => {
        const tenantId = testTenantId();
        const name = `r-${tenantId}`;
        await putEndpoint(world.endpoints, tenantId, name, {
          url: receiver.url(name),
          eventTypes: ['*'],
        });
        return { tenantId, name, event: testEvent(tenantId) };
      },
      contenders: ({ event }) => Array.from({ length: 6 }, () => () => world.sink.accept([event])),
      check: async ({ tenantId, name, event }, outcomes) => {
        for (const o of outcomes)
          expect(o).toMatchObject({ status: 'fulfilled', value: { failed: [] } });
        const page = await world.store.listAttempts(tenantId, name, { limit: 50 });
        expect(page.attempts.map((a) => a.eventId)).toEqual([event.eventId]);
        await pump(world);
        expect((await receiver.deliveries(name)).map((d) => d.id)).toEqual([event.eventId]);
      },
    });
  });

  it('two workers on one pending delivery (a message shown again while in flight) → one attempt recorded', async () => {
    const world = await eventsWorld();
    const receiver = await startReceiver();
    await raceTrials({
      trials: 10,
      maxStaggerMs: 3,
      setup: async () => {
        const tenantId = testTenantId();
        const name = `w-${tenantId}`;
        await putEndpoint(world.endpoints, tenantId, name, {
          url: receiver.url(name),
          eventTypes: ['*'],
        });
        await receiver.behave(name, { status: 500 });
        const event = testEvent(tenantId);
        expect((await world.sink.accept([event])).failed).toEqual([]);
        const ref = firstDeliveryRef(event, name);
        return { ref, name };
      },
      contenders: ({ ref }) => [
        () => deliver(world.delivery, ref),
        () => deliver(world.delivery, ref),
      ],
      check: async ({ ref, name }, outcomes) => {
        const kinds = outcomes.map((o) => {
          expect(o.status).toBe('fulfilled');
          return (o as PromiseFulfilledResult<{ kind: string }>).value.kind;
        });
        // Both may POST (at least once, one webhook-id); only one records the attempt and holds
        // its message for the next one, the other sees its record refused and lets its copy go.
        // (A worker that read after the record finds the attempt not due: it posts nothing.)
        const posts = (await receiver.deliveries(name)).length;
        expect(kinds.filter((k) => k === 'done')).toHaveLength(posts - 1);
        const delivery = await world.store.getDelivery(ref);
        expect(delivery).toMatchObject({ status: 'pending', attempts: 1 });
      },
    });
  });
});
