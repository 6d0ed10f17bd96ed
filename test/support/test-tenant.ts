/**
 * The one way tests and benches make a tenant: a configuration parsed by the real schema (so a rule
 * the schema gains breaks here, once, not in every file that wrote its own), stored, and its
 * credentials issued. `overrides` are the configuration's own fields; `idPrefix` names the tenant.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type * as z from 'zod';
import { systemClock } from '../../functions/kernel/clock.js';
import { type TenantConfig, tenantConfigSchema } from '../../functions/tenants/index.js';
import { testTenantStore } from './tenant-store.js';

export type TenantOverrides = Partial<z.input<typeof tenantConfigSchema>>;

export interface CreatedTenant {
  readonly tenantId: string;
  readonly config: TenantConfig;
  readonly apiKey: string;
  readonly webhookToken: string;
  readonly exportToken: string;
}

export async function testTenant(
  overrides: TenantOverrides = {},
  options: { readonly idPrefix?: string; readonly idLength?: number } = {},
): Promise<CreatedTenant> {
  const tenantId = `${options.idPrefix ?? 't'}-${randomUUID().slice(0, options.idLength ?? 8)}`;
  const config = tenantConfigSchema.parse({
    name: `Tenant ${tenantId}`,
    defaultCountry: 'IL',
    ...overrides,
  });
  await testTenantStore(systemClock).putConfig(tenantId, config);
  const credentials = await testTenantStore(systemClock).issueCredentials(tenantId);
  return {
    tenantId,
    config,
    apiKey: credentials.apiKey,
    webhookToken: credentials.webhookToken,
    exportToken: credentials.exportToken,
  };
}

/** A WhatsApp Cloud API phone number id: digits (15 of them, random). */
export function testPhoneNumberId(): string {
  return BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
}

/** A Google Ads OCI configuration: a random 10-digit customer, its conversion action and name. */
export function testGoogleAds(uploadMode: 'script' | 'api' = 'script') {
  const customerId = String(randomInt(1_000_000_000, 9_999_999_999));
  return {
    customerId,
    conversionAction: `customers/${customerId}/conversionActions/42`,
    conversionName: 'Qualified call',
    uploadMode,
  };
}
