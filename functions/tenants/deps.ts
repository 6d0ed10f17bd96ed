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
import { type CredentialStore, DynamoDbCredentialStore } from './credential-store.js';
import {
  DynamoDbProviderKeyStore,
  PROVIDER_KEY_PURPOSE,
  type ProviderKeyStore,
} from './provider-keys.js';
import { DynamoDbTenantStore, type TenantStore } from './tenant-store.js';

export interface TenantsDeps {
  readonly tenants: TenantStore;
  readonly credentials: CredentialStore;
  readonly providerKeys: ProviderKeyStore;
}

/** Built on first use (the table name is read then, not at import). */
export const tenantsDeps = /* @__PURE__ */ memoized((): TenantsDeps => {
  const table = tableName('tenants');
  return {
    tenants: new DynamoDbTenantStore(ddb, table, systemClock),
    credentials: new DynamoDbCredentialStore(ddb, table),
    providerKeys: new DynamoDbProviderKeyStore(ddb, table),
  };
});

let box: { key: string; box: SecretBox } | undefined;

/**
 * The box tenants' provider keys are sealed in: keyed by the platform's sealing secret
 * (`eventSigningKey`, cached by `platformSecret`), derived for this purpose only.
 */
export async function providerKeyBox(): Promise<SecretBox> {
  const key = await platformSecret('eventSigningKey');
  if (box?.key !== key) box = { key, box: secretBox(key, PROVIDER_KEY_PURPOSE) };
  return box.box;
}
