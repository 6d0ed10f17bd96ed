/**
 * Which queue types a tenant has and what each waits for: the two built in, plus the tenant's
 * `workQueues` configuration. Read through a port so domain code never touches the tenants table.
 *
 * A stay keeps the event type it was joined with (`MemberItem.eventType`), so evidence must reach
 * every queue type that waits, or ever waited, for its type: after `workQueues` remaps a queue type
 * (or drops it), the stays joined under the old mapping still wait for the old event type. The
 * tenant's configuration keeps every mapping it ever held (`workQueuesEver`, written in the same
 * put as the change), so `queuesWaitingFor` answers from it, and from a consistent read: a mapping
 * added a moment ago in another container may already hold a stay.
 */
import { NotFoundError } from '../kernel/errors.js';
import { BUILT_IN_WORK_QUEUES } from './model.js';

export interface TenantWorkQueues {
  /** queue type → the event type it waits for now. */
  readonly current: Readonly<Record<string, string>>;
  /** queue type → every event type it waited for, now or before. */
  readonly ever?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Reads a tenant's own work queues; `consistent` for an answer no older than the last change
 * (else it may be a few seconds stale).
 */
export type TenantWorkQueuesReader = (
  tenantId: string,
  options: { readonly consistent: boolean },
) => Promise<TenantWorkQueues>;

export interface WorkQueueCatalog {
  /** The event type the queue waits for now (for a new stay); 404 when the tenant has no such queue type. */
  eventTypeOf(tenantId: string, queueType: string): Promise<string>;
  /** Every queue type whose stays may wait for this event type: now, or under an earlier mapping. */
  queuesWaitingFor(tenantId: string, eventType: string): Promise<readonly string[]>;
}

export function workQueueCatalog(tenantQueues: TenantWorkQueuesReader): WorkQueueCatalog {
  return {
    async eventTypeOf(tenantId, queueType) {
      const { current } = await tenantQueues(tenantId, { consistent: false });
      const eventType = { ...current, ...BUILT_IN_WORK_QUEUES }[queueType];
      if (eventType === undefined) {
        throw new NotFoundError(`There is no work queue of type ${queueType}.`);
      }
      return eventType;
    },
    async queuesWaitingFor(tenantId, eventType) {
      const { current, ever = {} } = await tenantQueues(tenantId, { consistent: true });
      const waiting = new Set<string>();
      for (const [queueType, waitsFor] of Object.entries({ ...current, ...BUILT_IN_WORK_QUEUES })) {
        if (waitsFor === eventType) waiting.add(queueType);
      }
      for (const [queueType, waitedFor] of Object.entries(ever)) {
        // A built-in queue type always waits for its own event type, whatever a tenant once said.
        if (!(queueType in BUILT_IN_WORK_QUEUES) && waitedFor.includes(eventType)) {
          waiting.add(queueType);
        }
      }
      return [...waiting].sort();
    },
  };
}
