/**
 * The tenants context's composition root: reads the configuration once and builds its stores.
 * Handlers and `index.ts` take their stores from here; stores never read the environment.
 */

import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { tableName } from '../kernel/config.js';
import { memoized } from '../kernel/memoized.js';
import { type SecretBox, secretBox } from '../kernel/secret-box.js';
import { platformSecret } from '../kernel/secrets.js';
import { targetGuard } from '../kernel/ssrf.js';
import { type CredentialStore, DynamoDbCredentialStore } from './credential-store.js';
import {
  DynamoDbProviderCredentialStore,
  PROVIDER_CREDENTIALS,
  type ProviderCredentialDeps,
  type ProviderCredentialStore,
} from './provider-credentials.js';
import { DynamoDbTenantStore, type TenantStore } from './tenant-store.js';

export interface TenantsDeps {
  readonly tenants: TenantStore;
  readonly credentials: CredentialStore;
  readonly providerCredentials: ProviderCredentialStore;
}

/** Built on first use (the table name is read then, not at import). */
export const tenantsDeps = /* @__PURE__ */ memoized((): TenantsDeps => {
  const table = tableName('tenants');
  return {
    tenants: new DynamoDbTenantStore(ddb, table, systemClock),
    credentials: new DynamoDbCredentialStore(ddb, table),
    providerCredentials: new DynamoDbProviderCredentialStore(ddb, table),
  };
});

let box: { key: string; box: SecretBox } | undefined;

/** The box of the tenants' provider credentials, under the current `eventSigningKey`. */
export async function providerCredentialBox(): Promise<SecretBox> {
  const key = await platformSecret('eventSigningKey');
  if (box?.key !== key) box = { key, box: secretBox(key, PROVIDER_CREDENTIALS) };
  return box.box;
}

/**
 * Everything storing or reading a provider credential needs. Plain http to a loopback address
 * (the simulators) only in the local runtime.
 */
export async function providerCredentialDeps(): Promise<ProviderCredentialDeps> {
  return {
    store: tenantsDeps().providerCredentials,
    box: await providerCredentialBox(),
    clock: systemClock,
    checkUrl: targetGuard({ allowLoopbackHttp: process.env.ONCEFLOW_LOCAL === '1' }),
  };
}
