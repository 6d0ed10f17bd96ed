/**
 * The ledger's composition root: the one place that reads the environment and builds the store,
 * the clock and the work-queue catalog (from the tenant's configuration).
 */

import { ddb } from '../kernel/clients.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { settings, tableName } from '../kernel/config.js';
import type { HttpRequest } from '../kernel/http.js';
import { memoized } from '../kernel/memoized.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import { authenticate, tenantStore } from '../tenants/index.js';
import { DynamoDbLedgerStore, type LedgerStore } from './ledger-store.js';
import {
  type TenantWorkQueues,
  type TenantWorkQueuesReader,
  type WorkQueueCatalog,
  workQueueCatalog,
} from './work-queues.js';

export interface LedgerDeps {
  readonly store: LedgerStore;
  readonly clock: Clock;
  readonly catalog: WorkQueueCatalog;
  readonly queuesWaitingFor: WorkQueueCatalog['queuesWaitingFor'];
  readonly reconcileWindowSeconds: number;
}

/**
 * A tenant's work queues. A new stay's event type may come from a copy a few seconds old (a join
 * racing a configuration change is a join just before it); which queues evidence can reach is read
 * consistently (`work-queues.ts`): one strongly consistent GetItem per piece of evidence applied.
 */
const TENANT_CACHE_MS = 5_000;
const tenantQueues = /* @__PURE__ */ memoized(
  () => new TtlCache<TenantWorkQueues>({ ttlMs: TENANT_CACHE_MS, clock: systemClock }),
);

const readWorkQueues = async (tenantId: string, consistent: boolean) => {
  const tenant = await tenantStore().get(tenantId, { consistent });
  return {
    current: tenant?.workQueues ?? {},
    ...(tenant?.workQueuesEver ? { ever: tenant.workQueuesEver } : {}),
  };
};

const workQueuesOf: TenantWorkQueuesReader = async (tenantId, { consistent }) => {
  if (consistent) return readWorkQueues(tenantId, true);
  return (
    (await tenantQueues().get(tenantId, () => readWorkQueues(tenantId, false))) ?? { current: {} }
  );
};

const ledgerStore = /* @__PURE__ */ memoized(
  (): LedgerStore => new DynamoDbLedgerStore(ddb, tableName('ledger')),
  () => tableName('ledger'),
);

export function ledgerDeps(overrides: Partial<Pick<LedgerDeps, 'clock'>> = {}): LedgerDeps {
  const catalog = workQueueCatalog(workQueuesOf);
  return {
    store: ledgerStore(),
    clock: overrides.clock ?? systemClock,
    catalog,
    queuesWaitingFor: catalog.queuesWaitingFor,
    reconcileWindowSeconds: settings.reconcileWindowSeconds,
  };
}

/** The operator's tenant, from the request's API key (401 otherwise). */
export function operatorTenant(request: HttpRequest): Promise<string> {
  return authenticate(request, 'api');
}
