/**
 * The ledger's composition root: the one place that reads the environment and builds the store,
 * the clock and the work-queue catalog (from the tenant's configuration).
 */

import { ddb } from '../kernel/clients.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { settings, tableName } from '../kernel/config.js';
import type { HttpRequest } from '../kernel/http.js';
import { authenticate, tenantStore } from '../tenants/index.js';
import { DynamoDbLedgerStore, type LedgerStore } from './ledger-store.js';
import { type WorkQueueCatalog, workQueueCatalog } from './work-queues.js';

export interface LedgerDeps {
  readonly store: LedgerStore;
  readonly clock: Clock;
  readonly catalog: WorkQueueCatalog;
  readonly queuesWaitingFor: WorkQueueCatalog['queuesWaitingFor'];
  readonly reconcileWindowSeconds: number;
}

/** A tenant's `workQueues`, cached for a few seconds per execution environment. */
const TENANT_CACHE_MS = 5_000;
const tenantQueues = new Map<string, { value: Readonly<Record<string, string>>; until: number }>();

async function workQueuesOf(tenantId: string): Promise<Readonly<Record<string, string>>> {
  const hit = tenantQueues.get(tenantId);
  if (hit && hit.until > Date.now()) return hit.value;
  const tenant = await tenantStore().get(tenantId);
  const value = tenant?.workQueues ?? {};
  tenantQueues.set(tenantId, { value, until: Date.now() + TENANT_CACHE_MS });
  return value;
}

export function ledgerDeps(overrides: Partial<Pick<LedgerDeps, 'clock'>> = {}): LedgerDeps {
  const catalog = workQueueCatalog(workQueuesOf);
  return {
    store: new DynamoDbLedgerStore(ddb, tableName('ledger')),
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
