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
import {
  DynamoDbProviderKeyStore,
  PROVIDER_KEY_PURPOSE,
  type ProviderKeyStore,
} from './provider-keys.js';
import { DynamoDbTenantStore, type TenantStore } from './tenant-store.js';

export interface TenantsDeps {
  readonly tenants: TenantStore;
  readonly credentials: CredentialStore;
  readonly providerCredentials: ProviderCredentialStore;
  readonly providerKeys: ProviderKeyStore;
}

/** Built on first use (the table name is read then, not at import). */
export const tenantsDeps = /* @__PURE__ */ memoized((): TenantsDeps => {
  const table = tableName('tenants');
  return {
    tenants: new DynamoDbTenantStore(ddb, table, systemClock),
    credentials: new DynamoDbCredentialStore(ddb, table),
    providerCredentials: new DynamoDbProviderCredentialStore(ddb, table),
    providerKeys: new DynamoDbProviderKeyStore(ddb, table),
  };
});

const boxes = new Map<string, { key: string; box: SecretBox }>();

/** The box of one purpose under the current `eventSigningKey` (HKDF `info`: one key per purpose). */
async function boxFor(purpose: string): Promise<SecretBox> {
  const key = await platformSecret('eventSigningKey');
  let held = boxes.get(purpose);
  if (held?.key !== key) {
    held = { key, box: secretBox(key, purpose) };
    boxes.set(purpose, held);
  }
  return held.box;
}

/** The box of the tenants' provider credentials, under the current `eventSigningKey`. */
export async function providerCredentialBox(): Promise<SecretBox> {
  return boxFor(PROVIDER_CREDENTIALS);
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
/**
 * The box tenants' provider keys are sealed in: keyed by the platform's sealing secret
 * (`eventSigningKey`, cached by `platformSecret`), derived for this purpose only.
 */
export async function providerKeyBox(): Promise<SecretBox> {
  return boxFor(PROVIDER_KEY_PURPOSE);
}
