/**
 * The API keys a tenant gives onceflow to call a provider on its behalf (Unipile: every reply on
 * LinkedIn, Instagram, Telegram and e-mail goes out with the tenant's own `X-API-KEY`).
 *
 * Such a key must be usable outbound, so it cannot be kept as a hash; a Secrets Manager secret per
 * tenant would cost $0.40 a month each and a grant per tenant. So it is sealed (AES-256-GCM under a
 * key derived from one platform secret, `kernel/secret-box.ts`, with its own HKDF purpose) in the
 * tenants table, bound to the tenant and provider: the item, a table export or a backup reveals
 * nothing, and a sealed key copied onto another tenant does not open. The clear key is only in the
 * admin's request and in memory while a send uses it; it is never answered, stored or logged.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { type Clock, isoTime } from '../kernel/clock.js';
import { NotFoundError } from '../kernel/errors.js';
import type { SecretBox } from '../kernel/secret-box.js';
import { keys, type ProviderKeyName, providerKeyItem, toProviderKey } from './items.js';

/** The HKDF purpose of the box provider keys are sealed in (not the endpoints' signing secrets'). */
export const PROVIDER_KEY_PURPOSE = 'onceflow/tenant-provider-key/v1';

/** What a sealed key is bound to: its tenant and provider. */
const bindingOf = (tenantId: string, provider: ProviderKeyName) =>
  `provider-key:${provider}:${tenantId}`;

/** `PUT /v1/tenants/{tenantId}/unipile/api-key`: Unipile access tokens are opaque strings. */
export const providerKeyBodySchema = z
  .object({ apiKey: z.string().min(8).max(512).regex(/^\S+$/, 'must have no spaces') })
  .strict();

export interface ProviderKeyStore {
  put(tenantId: string, provider: ProviderKeyName, sealed: string, now: string): Promise<void>;
  getSealed(tenantId: string, provider: ProviderKeyName): Promise<string | undefined>;
}

export class DynamoDbProviderKeyStore implements ProviderKeyStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async put(tenantId: string, provider: ProviderKeyName, sealed: string, now: string) {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: providerKeyItem({ tenantId, provider, sealed, updatedAt: now }),
      }),
    );
  }

  async getSealed(tenantId: string, provider: ProviderKeyName) {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: keys.providerKey(tenantId, provider) }),
    );
    return out.Item ? toProviderKey(out.Item)?.sealed : undefined;
  }
}

/**
 * Seals and stores the tenant's key (replacing the previous one: a PUT, idempotent by nature). The
 * tenant must exist: a key for nobody is 404, never stored.
 */
export async function setProviderKey(
  deps: {
    readonly keys: ProviderKeyStore;
    readonly box: SecretBox;
    readonly clock: Clock;
    readonly tenantExists: (tenantId: string) => Promise<boolean>;
  },
  tenantId: string,
  provider: ProviderKeyName,
  apiKey: string,
): Promise<{ readonly updatedAt: string }> {
  if (!(await deps.tenantExists(tenantId))) throw new NotFoundError('No such tenant.');
  const updatedAt = isoTime(deps.clock);
  await deps.keys.put(
    tenantId,
    provider,
    deps.box.seal(apiKey, bindingOf(tenantId, provider)),
    updatedAt,
  );
  return { updatedAt };
}

/** The tenant's key in clear, or undefined when it gave none (or it does not open: logged by the caller). */
export async function openProviderKey(
  deps: { readonly keys: ProviderKeyStore; readonly box: SecretBox },
  tenantId: string,
  provider: ProviderKeyName,
): Promise<string | undefined> {
  const sealed = await deps.keys.getSealed(tenantId, provider);
  return sealed === undefined ? undefined : deps.box.open(sealed, bindingOf(tenantId, provider));
}
