/**
 * The tenants context's items in the `tenants` table: the one `keys` object (the only place a key
 * string of this context is built or parsed), the item types and the parsers from raw items.
 * Nothing above the adapters (`tenant-store.ts`, `credential-store.ts`) sees a raw item.
 *
 * - `TENANT#<id> / CONFIG`: the configuration, a `version` for optimistic concurrency, credential
 *   hashes.
 * - `CLAIM#<kind>#<id> / CLAIM`: the uniqueness item of a provider identifier (a WhatsApp phone
 *   number id, a GHL location id, a WhatsApp Web instance), naming its one owner. Written in the
 *   same transaction as the configuration, so two tenants can never own one identifier.
 * - `CRED#<sha256> / CRED`: a credential hash and its tenant and kind (only hashes are stored). The
 *   kernel authenticates through the credential store's `find` (`CredentialLookup`), never by key.
 * - `TENANT#<id> / PROVIDER#<provider>`: an outbound provider credential of the tenant (its
 *   Evolution server and instance key, its GoHighLevel token, its Unipile key), sealed (`kernel/secret-box.ts`):
 *   onceflow must present it on every send, so it cannot be a hash.
 */
import type { CredentialKind, CredentialRecord } from '../kernel/auth.js';
import { itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import type { ClaimKind, TenantConfig } from './tenant-config.js';

/** A table key (a type, not an interface, so it is an `Item` where the kernel takes one). */
export type Key = { readonly pk: string; readonly sk: string };

export const keys = {
  tenant: (tenantId: string): Key => ({ pk: `TENANT#${tenantId}`, sk: 'CONFIG' }),
  claim: (kind: ClaimKind, id: string): Key => ({ pk: `CLAIM#${kind}#${id}`, sk: 'CLAIM' }),
  credential: (hash: string): Key => ({ pk: `CRED#${hash}`, sk: 'CRED' }),
  providerCredential: (tenantId: string, provider: string): Key => ({
    pk: `TENANT#${tenantId}`,
    sk: `PROVIDER#${provider}`,
  }),
};

/** A sealed outbound provider credential (`provider-credentials.ts`). */
export interface ProviderCredentialItem {
  readonly tenantId: string;
  readonly provider: string;
  readonly sealed: string;
  readonly updatedAt: string;
}

export function providerCredentialItem(record: ProviderCredentialItem): Item {
  return { ...keys.providerCredential(record.tenantId, record.provider), ...record };
}

export function toProviderCredential(raw: Item): ProviderCredentialItem {
  const item = itemReader(raw, 'provider credential');
  return {
    tenantId: item.string('tenantId'),
    provider: item.string('provider'),
    sealed: item.string('sealed'),
    updatedAt: item.string('updatedAt'),
  };
}

export interface Tenant extends TenantConfig {
  readonly tenantId: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly credentials?: Readonly<Record<CredentialKind, string>>;
  /** Every event type each work-queue type waited for, now or before (`workQueuesEver`). */
  readonly workQueuesEver?: Readonly<Record<string, readonly string[]>>;
}

/** The stored configuration item. */
export function tenantItem(tenant: Tenant): Item {
  return { ...keys.tenant(tenant.tenantId), ...tenant };
}

/**
 * A configuration item as its tenant, or undefined when it is not one (no id or version). The
 * configuration fields were checked by `tenantConfigSchema` before they were written, and only
 * `putConfig` writes them: they are not checked again on every read (webhooks read a tenant per
 * delivery).
 */
export function toTenant(raw: Item): Tenant | undefined {
  if (typeof raw.tenantId !== 'string' || typeof raw.version !== 'number') return undefined;
  const { pk: _pk, sk: _sk, ...tenant } = raw;
  return tenant as unknown as Tenant;
}

/** The uniqueness item of a provider identifier. */
export interface ClaimItem {
  readonly tenantId: string;
  readonly kind: ClaimKind;
  readonly claimedAt: string;
  /** Set when its tenant released it: it names no owner, and only that tenant may take it back before `heldUntil`. */
  readonly releasedAt?: string;
  /** Epoch milliseconds until which another tenant may not take it. */
  readonly heldUntil?: number;
}

export function claimItem(id: string, claim: ClaimItem): Item {
  return { ...keys.claim(claim.kind, id), ...claim };
}

// Every kind once, checked by the compiler: a kind added to `ClaimKind` and not here fails to build
// (a Unipile account claim was refused as malformed when the two lists were kept apart).
const CLAIM_KIND_SET = {
  whatsapp_phone: true,
  ghl_location: true,
  whatsapp_web_instance: true,
  unipile_account: true,
} as const satisfies Record<ClaimKind, true>;
const CLAIM_KINDS = Object.keys(CLAIM_KIND_SET) as ClaimKind[];

export function toClaim(raw: Item): ClaimItem {
  const item = itemReader(raw, 'identifier claim');
  return {
    tenantId: item.string('tenantId'),
    kind: item.oneOf('kind', CLAIM_KINDS),
    claimedAt: item.string('claimedAt'),
    ...withoutAbsent({
      releasedAt: item.optionalString('releasedAt'),
      heldUntil: item.optionalNumber('heldUntil'),
    }),
  };
}

export function credentialItem(record: CredentialRecord): Item {
  return { ...keys.credential(record.hash), ...record };
}

const CREDENTIAL_KINDS: readonly CredentialKind[] = ['api', 'webhook', 'export'];

/** A credential item as the kernel's record, or undefined when it is not one. */
export function toCredential(raw: Item): CredentialRecord | undefined {
  const { tenantId, kind, hash } = raw;
  if (typeof tenantId !== 'string' || typeof hash !== 'string') return undefined;
  const known = CREDENTIAL_KINDS.find((k) => k === kind);
  return known ? { tenantId, kind: known, hash } : undefined;
}
