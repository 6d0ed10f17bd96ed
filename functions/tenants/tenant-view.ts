/**
 * What the platform admin sees of a tenant (`GET /v1/tenants/{tenantId}`): its configuration and
 * bookkeeping, picked field by field. A whitelist rather than "the item minus the hashes", so a
 * field added to the stored item later (a secret's hash, say) stays hidden until someone decides
 * to show it.
 */
import type { Tenant, TenantConfig } from './tenant-store.js';

export interface TenantView extends TenantConfig {
  readonly tenantId: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Whether credentials were ever issued (the hashes themselves never leave the store). */
  readonly credentialsIssued: boolean;
}

export function toTenantView(tenant: Tenant): TenantView {
  return {
    tenantId: tenant.tenantId,
    name: tenant.name,
    defaultCountry: tenant.defaultCountry,
    ...(tenant.whatsapp ? { whatsapp: tenant.whatsapp } : {}),
    ...(tenant.ghl ? { ghl: tenant.ghl } : {}),
    ...(tenant.whatsappWeb ? { whatsappWeb: tenant.whatsappWeb } : {}),
    ...(tenant.unipile ? { unipile: tenant.unipile } : {}),
    ...(tenant.googleAds ? { googleAds: tenant.googleAds } : {}),
    messagesPerSecond: tenant.messagesPerSecond,
    unknownOutcome: tenant.unknownOutcome,
    ...(tenant.aiReplies ? { aiReplies: tenant.aiReplies } : {}),
    ...(tenant.workQueues ? { workQueues: tenant.workQueues } : {}),
    version: tenant.version,
    createdAt: tenant.createdAt,
    updatedAt: tenant.updatedAt,
    credentialsIssued: tenant.credentials !== undefined,
  };
}
