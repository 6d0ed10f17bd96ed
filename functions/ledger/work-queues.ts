/**
 * Which queue types a tenant has and what each waits for: the two built in, plus the tenant's
 * `workQueues` configuration. Read through a port so domain code never touches the tenants table.
 */
import { NotFoundError } from '../kernel/errors.js';
import { BUILT_IN_WORK_QUEUES } from './model.js';

/** Reads a tenant's own `workQueues` (queue type → event type). */
export type TenantWorkQueues = (tenantId: string) => Promise<Readonly<Record<string, string>>>;

export interface WorkQueueCatalog {
  /** The event type the queue waits for; 404 when the tenant has no such queue type. */
  eventTypeOf(tenantId: string, queueType: string): Promise<string>;
  queuesWaitingFor(tenantId: string, eventType: string): Promise<readonly string[]>;
}

export function workQueueCatalog(tenantQueues: TenantWorkQueues): WorkQueueCatalog {
  const all = async (tenantId: string) => ({
    ...(await tenantQueues(tenantId)),
    ...BUILT_IN_WORK_QUEUES,
  });
  return {
    async eventTypeOf(tenantId, queueType) {
      const eventType = (await all(tenantId))[queueType];
      if (eventType === undefined) {
        throw new NotFoundError(`There is no work queue of type ${queueType}.`);
      }
      return eventType;
    },
    async queuesWaitingFor(tenantId, eventType) {
      return Object.entries(await all(tenantId))
        .filter(([, waitsFor]) => waitsFor === eventType)
        .map(([queueType]) => queueType)
        .sort();
    },
  };
}
