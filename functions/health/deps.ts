/** The health context's composition root. */
import { ddb } from '../kernel/clients.js';
import { tableName } from '../kernel/config.js';
import { memoized } from '../kernel/memoized.js';
import { DynamoDbStoreProbe, type StoreProbe } from './store-probe.js';

export interface HealthDeps {
  readonly probe: StoreProbe;
}

export const healthDeps = /* @__PURE__ */ memoized(
  (): HealthDeps => ({ probe: new DynamoDbStoreProbe(ddb, tableName('tenants')) }),
);
