/**
 * The tenants context's public surface: the only file other contexts import from.
 */
import { authenticateWith, type CredentialKind, tenantOfToken } from '../kernel/auth.js';
import type { HttpRequest } from '../kernel/http.js';
import { providerCredentialDeps, tenantsDeps } from './deps.js';
import { loadProviderCredentials } from './provider-credentials.js';
import type { TenantStore } from './tenant-store.js';

export type { CredentialStore } from './credential-store.js';
export { providerCredentialDeps } from './deps.js';
export {
  isProviderName,
  loadProviderCredentials,
  type ProviderCredentials,
  type ProviderName,
  saveProviderCredentials,
} from './provider-credentials.js';
export {
  type Claim,
  type ClaimKind,
  instanceNameSchema,
  MAX_CLAIM_CHANGES_PER_UPDATE,
  type TenantConfig,
  tenantConfigSchema,
  UNIPILE_ACCOUNT_TYPES,
  type UnipileAccountType,
} from './tenant-config.js';
export {
  CLAIM_RELEASE_HOLD_SECONDS,
  DynamoDbTenantStore,
  type IssuedCredentials,
  type Tenant,
  type TenantStore,
} from './tenant-store.js';

/** The tenant store of this deployment. */
export function tenantStore(): TenantStore {
  return tenantsDeps().tenants;
}

/** One credential lookup per request and kind, however many steps of the request ask. */
const authenticated = new WeakMap<HttpRequest, Map<string, Promise<string>>>();

/**
 * Resolves the request's bearer token of the given kind to its tenant id, or throws 401. The
 * `Idempotency-Key` option and the handler both ask; the credential is read once.
 */
export function authenticate(
  request: HttpRequest,
  kind: Exclude<CredentialKind, 'webhook'>,
): Promise<string> {
  const byKind = authenticated.get(request) ?? new Map<string, Promise<string>>();
  authenticated.set(request, byKind);
  const known = byKind.get(kind);
  if (known) return known;
  const { credentials } = tenantsDeps();
  const tenantId = authenticateWith((hash) => credentials.find(hash), request, kind);
  byKind.set(kind, tenantId);
  return tenantId;
}

/** The tenant whose current webhook token this is, or undefined (found by the token's hash). */
export function tenantOfWebhookToken(token: string): Promise<string | undefined> {
  const { credentials } = tenantsDeps();
  return tenantOfToken((hash) => credentials.find(hash), token, 'webhook');
}

/** The tenant's Unipile API key in clear (for one send), or undefined when it gave none. */
export async function unipileApiKey(tenantId: string): Promise<string | undefined> {
  return (await loadProviderCredentials(await providerCredentialDeps(), tenantId, 'unipile'))
    ?.apiKey;
}
