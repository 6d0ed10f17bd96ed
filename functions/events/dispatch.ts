/**
 * The delivery half's `EventSink`: each event accepted is kept (the log a replay reads) and gets one
 * delivery per endpoint of its tenant subscribed to its type, rung on the endpoint's own FIFO
 * message group for the event's entity.
 *
 * - **Once per attempt cycle.** The delivery item is created with `putOnce` keyed by (endpoint,
 *   event id, cycle): a stream record seen twice, a batch retried or two dispatchers racing make
 *   one item. A delivery found still pending is rung again (the doorbell may have been lost with a
 *   crash after the item); SQS drops the copy by its deterministic deduplication id, and the worker
 *   re-reads the item, so a second ring never makes a second delivery.
 * - **Order per entity.** The message group is (tenant, endpoint, entity): SQS FIFO hands a group
 *   out one message at a time and the worker holds a failing message in its group until it is
 *   delivered or failed, so an entity's later events wait behind it, while other entities and
 *   other endpoints go on. Within a batch an entity's events are dispatched one after another, and
 *   once one fails the rest of that entity fail too (the stream hands them back in order).
 * - **Nothing waits for a receiver here.** Dispatch is a few writes and one SQS batch; the
 *   endpoints are called by the delivery worker.
 */
import type { Clock } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { logger } from '../kernel/telemetry.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import type { EventsStore } from './events-store.js';
import { type DeliveryRef, type EndpointRecord, subscribes } from './items.js';
import type { EventSink, OnceflowEvent } from './model.js';

export const DISPATCH_AFTER_LOG = defineFailpoint(
  'events.dispatch.after-log',
  'the event is kept in the log; no delivery item yet',
);
export const DISPATCH_BEFORE_RING = defineFailpoint(
  'events.dispatch.before-ring',
  'the delivery items exist; their queue messages are not sent',
);

/** Sends the queue messages of deliveries (the FIFO doorbell). */
export interface DeliveryBell {
  /**
   * `roundOf` names a later ring of a delivery (the sweep's): its message gets its own
   * deterministic deduplication id, so SQS does not drop it as a copy of the first ring.
   */
  ring(deliveries: readonly DeliveryRef[], roundOf?: (ref: DeliveryRef) => string): Promise<void>;
}

export interface DispatcherDeps {
  readonly store: EventsStore;
  readonly bell: DeliveryBell;
  readonly clock: Clock;
  /**
   * How long a warm container serves a tenant's endpoints without reading them again. A new or
   * deleted endpoint is seen this much later by a dispatcher that read them just before (the
   * worker re-reads the endpoint before every attempt, so a deleted one is never called).
   * @default 0 (no cache)
   */
  readonly endpointsCacheMs?: number;
  /** Entities dispatched at once within a batch. @default 8 */
  readonly concurrency?: number;
  /** The cycle of these deliveries: `0` for the change feed, `r:<replayId>` for a replay. */
  readonly cycle?: string;
  /** Dispatch to this endpoint only (a replay). */
  readonly onlyEndpoint?: string;
}

export function createEndpointDispatcher(deps: DispatcherDeps): EventSink {
  const cache = new TtlCache<EndpointRecord[]>({
    ttlMs: deps.endpointsCacheMs ?? 0,
    clock: deps.clock,
  });
  const endpointsOf = async (tenantId: string) =>
    (await cache.get(tenantId, () => deps.store.listEndpoints(tenantId))) ?? [];
  const cycle = deps.cycle ?? '0';

  async function dispatchOne(event: OnceflowEvent, only?: string): Promise<void> {
    await deps.store.logEvent(event);
    failpoint(DISPATCH_AFTER_LOG);
    const endpoints = (await endpointsOf(event.tenantId)).filter(
      (e) =>
        e.state === 'active' &&
        subscribes(e, event.type) &&
        (only === undefined || e.endpointId === only),
    );
    const now = new Date(deps.clock.now()).toISOString();
    const ring: DeliveryRef[] = [];
    for (const endpoint of endpoints) {
      const ref: DeliveryRef = {
        tenantId: event.tenantId,
        endpointId: endpoint.endpointId,
        eventId: event.eventId,
        cycle,
        entityKey: event.entityKey,
        occurredAt: event.occurredAt,
      };
      const { delivery } = await deps.store.createDelivery(ref, event.type, now);
      if (delivery.status === 'pending') ring.push(ref);
    }
    failpoint(DISPATCH_BEFORE_RING);
    await deps.bell.ring(ring);
  }

  return {
    async accept(events) {
      const byEntity = new Map<string, OnceflowEvent[]>();
      for (const event of events) {
        const key = `${event.tenantId}\u0000${event.entityKey}`;
        byEntity.set(key, [...(byEntity.get(key) ?? []), event]);
      }
      const failed: string[] = [];
      let crash: FailpointCrashError | undefined;
      await forEachWithConcurrency([...byEntity.values()], deps.concurrency ?? 8, async (group) => {
        for (const [index, event] of group.entries()) {
          if (crash) return void failed.push(...group.slice(index).map((e) => e.eventId));
          try {
            await dispatchOne(event, deps.onlyEndpoint);
          } catch (error) {
            if (error instanceof FailpointCrashError) crash = error;
            else
              logger.warn('event not dispatched; handed back', { eventId: event.eventId, error });
            return void failed.push(...group.slice(index).map((e) => e.eventId));
          }
        }
      });
      if (crash) throw crash;
      return { failed };
    },
  };
}

/** A dispatcher for a replay: a new attempt cycle, to one endpoint. */
export function createReplayDispatcher(
  deps: DispatcherDeps,
  endpointId: string,
  replayId: string,
): EventSink {
  return createEndpointDispatcher({ ...deps, cycle: `r:${replayId}`, onlyEndpoint: endpointId });
}
