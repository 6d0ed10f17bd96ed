/**
 * Order per entity and isolation between endpoints, over thousands of events, through the SQS
 * emulator's FIFO groups: one receiver fails half its deliveries and answers slowly, another is
 * healthy. Every POST either receiver saw is checked: an entity's events arrive in the order they
 * happened (a retry repeats the same event; the next one comes only after it), and the healthy
 * receiver never waits for the failing one's backoff.
 */
import { describe, expect, it } from 'vitest';
import { putEndpoint } from '../../../functions/events/endpoints.js';
import type { OnceflowEvent } from '../../../functions/events/model.js';
import {
  eventsWorld,
  pump,
  startReceiver,
  testEvent,
  testTenantId,
  verifyDelivery,
} from './events-support.js';

const ENTITIES = 20;
const PER_ENTITY = 50; // 1,000 events, 2,000 deliveries (and about 1,000 retries)
const STREAM_BATCH = 100;

describe('order per entity', () => {
  it('1,000 events to a receiver failing 50% and slow arrive in order per entity; a healthy endpoint is not delayed', {
    timeout: 600_000,
  }, async () => {
    const world = await eventsWorld();
    const receiver = await startReceiver();
    const tenantId = testTenantId();
    const flaky = `flaky-${tenantId}`;
    const healthy = `healthy-${tenantId}`;
    const secrets = new Map<string, string>();
    for (const name of [flaky, healthy]) {
      const answer = await putEndpoint(world.endpoints, tenantId, name, {
        url: receiver.url(name),
        eventTypes: ['*'],
      });
      secrets.set(name, answer.secret ?? '');
    }
    await receiver.behave(flaky, { failRate: 0.5, latencyMs: 5 });
    const start = world.clock.now();
    const events: OnceflowEvent[] = [];
    for (let seq = 0; seq < PER_ENTITY; seq++) {
      for (let entity = 0; entity < ENTITIES; entity++) {
        events.push(
          testEvent(tenantId, {
            seq: seq * ENTITIES + entity,
            entityKey: `conversation:c_${entity}`,
            data: { entity, seq },
          }),
        );
      }
    }
    // Handed over in stream-sized batches, as the change feed does.
    for (let i = 0; i < events.length; i += STREAM_BATCH) {
      expect(await world.sink.accept(events.slice(i, i + STREAM_BATCH))).toEqual({ failed: [] });
    }
    await pump(world);

    for (const name of [flaky, healthy]) {
      const seen = await receiver.deliveries(name);
      const lastSeq = new Map<number, number>();
      const delivered = new Set<string>();
      for (const d of seen) {
        const body = verifyDelivery(secrets.get(name) ?? '', d) as {
          data: { entity: number; seq: number };
        };
        const previous = lastSeq.get(body.data.entity) ?? -1;
        // Never an earlier event after a later one: a retry repeats, the next waits.
        expect(body.data.seq).toBeGreaterThanOrEqual(previous);
        lastSeq.set(body.data.entity, body.data.seq);
        if (d.answered < 300) delivered.add(d.id ?? '');
      }
      // Each event delivered, or failed after its eight attempts (2^-8 at a 50% fail rate).
      const page = await world.store.listAttempts(tenantId, name, { limit: 200, status: 'failed' });
      for (const failed of page.attempts) expect(failed.attempts).toBe(8);
      expect(delivered.size + page.attempts.length).toBe(events.length);
    }
    const healthySeen = await receiver.deliveries(healthy);
    expect(healthySeen).toHaveLength(events.length);
    // Its last delivery came before the flaky receiver's 5-minute retries were due: never held up.
    const lastHealthy = Math.max(...healthySeen.map((d) => Number(d.timestamp) * 1000));
    expect(lastHealthy - start).toBeLessThan(5 * 60_000);
    const flakySeen = await receiver.deliveries(flaky);
    expect(flakySeen.length).toBeGreaterThan(events.length); // it did fail, and was retried
  });
});
