/**
 * The tenants context's composition root: reads the configuration once and builds its stores.
 * Handlers and `index.ts` take their stores from here; stores never read the environment.
 */
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { tableName } from '../kernel/config.js';
import { memoized } from '../kernel/memoized.js';
import { type CredentialStore, DynamoDbCredentialStore } from './credential-store.js';
import { DynamoDbTenantStore, type TenantStore } from './tenant-store.js';

export interface TenantsDeps {
  readonly tenants: TenantStore;
  readonly credentials: CredentialStore;
}

/** Built on first use (the table name is read then, not at import). */
export const tenantsDeps = /* @__PURE__ */ memoized((): TenantsDeps => {
  const table = tableName('tenants');
  return {
    tenants: new DynamoDbTenantStore(ddb, table, systemClock),
    credentials: new DynamoDbCredentialStore(ddb, table),
  };
});
