/**
 * The webhooks context's composition root: the inbound stores, the GHL dedupe window and the
 * WhatsApp Cloud tenant lookup, read once.
 */
import { inboundDeps } from '../conversations/index.js';
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { ConfigurationError, tableName } from '../kernel/config.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import { CLAIM_RELEASE_HOLD_SECONDS, type Tenant, tenantStore } from '../tenants/index.js';
import { DynamoDbGhlWindowStore, type GhlWindowStore } from './ghl-window-store.js';

/** Longer than GoHighLevel's retry horizon (six retries ~10 minutes apart, ~70 minutes). */
export const DEFAULT_GHL_DEDUPE_WINDOW_SECONDS = 7200;

export function ghlDedupeWindowSeconds(env = process.env): number {
  const raw = env.ONCEFLOW_GHL_DEDUPE_WINDOW_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_GHL_DEDUPE_WINDOW_SECONDS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(
      `ONCEFLOW_GHL_DEDUPE_WINDOW_SECONDS must be a positive whole number of seconds, got ${raw}`,
    );
  }
  return value;
}

/**
 * How long a warm container keeps which tenant owns a WhatsApp phone number id. Every Cloud API
 * delivery needs it before anything else; read every time it was two of a delivery's DynamoDB
 * requests, and it kept a duplicate from being decided by its one conditional write. A phone number
 * id a tenant removes keeps routing to that tenant for up to this long in a container that cached
 * it; no other tenant can take the id meanwhile (`CLAIM_RELEASE_HOLD_SECONDS`, which bounds this
 * setting with 5 s to spare for clock skew between containers), so a cached route never delivers
 * one tenant's messages to another. A new or unknown id is never cached, so adding one takes effect
 * at once.
 */
export const MAX_TENANT_CACHE_SECONDS = CLAIM_RELEASE_HOLD_SECONDS - 5;
export const DEFAULT_TENANT_CACHE_SECONDS = MAX_TENANT_CACHE_SECONDS;

export function tenantCacheSeconds(env = process.env): number {
  const raw = env.ONCEFLOW_TENANT_CACHE_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_TENANT_CACHE_SECONDS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > MAX_TENANT_CACHE_SECONDS) {
    throw new ConfigurationError(
      `ONCEFLOW_TENANT_CACHE_SECONDS must be a whole number of seconds from 0 to ${MAX_TENANT_CACHE_SECONDS} (5 s less than a released phone number id is held from other tenants), got ${raw}`,
    );
  }
  return value;
}

let cloudTenants: TtlCache<Tenant> | undefined;

/** The tenant owning a WhatsApp Cloud phone number id, cached per container (see above). */
export function cloudTenantLookup(): (phoneNumberId: string) => Promise<Tenant | undefined> {
  cloudTenants ??= new TtlCache<Tenant>({
    ttlMs: tenantCacheSeconds() * 1000,
    clock: systemClock,
  });
  const cache = cloudTenants;
  return (phoneNumberId) =>
    cache.get(phoneNumberId, () => tenantStore().findByClaim('whatsapp_phone', phoneNumberId));
}

export { inboundDeps };

let windows: { readonly table: string; readonly store: GhlWindowStore } | undefined;

/** A GoHighLevel webhook's: the inbound stores, the dedupe window and its claims' store. */
export function ghlSmsDeps() {
  const table = tableName('inbound');
  if (windows?.table !== table) windows = { table, store: new DynamoDbGhlWindowStore(ddb, table) };
  return {
    inbound: inboundDeps(),
    options: { dedupeWindowSeconds: ghlDedupeWindowSeconds(), windows: windows.store },
  };
}
