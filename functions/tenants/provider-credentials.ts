/**
 * A tenant's outbound provider credentials: what onceflow presents to send on the tenant's own
 * accounts (api.md "Replies": credentials per tenant).
 *
 * - `evolution`: the tenant's Evolution API server (`baseUrl`) and its instance key (`apiKey`,
 *   sent as the `apikey` header of `POST /message/sendText/{instance}`).
 * - `ghl`: the location's GoHighLevel token (a Private Integration Token or a sub-account access
 *   token: `Authorization: Bearer`, marketplace.gohighlevel.com "Authorization").
 * - `unipile`: the tenant's Unipile access token (`apiKey`, sent as `X-API-KEY`: every reply on
 *   LinkedIn, Instagram, Telegram and e-mail goes out with the tenant's own key; its DSN is in the
 *   tenant's configuration and passes the SSRF guard before every call).
 *
 * A key onceflow must present cannot be kept as a hash, and a Secrets Manager secret per tenant and
 * provider is $0.40 a month each and a grant per secret: each is sealed in its own item of the
 * tenants table (`TENANT#<id> / PROVIDER#<provider>`) with AES-256-GCM under a key derived for this
 * purpose from the platform's `eventSigningKey` (`kernel/secret-box.ts`), bound to the tenant and
 * provider, so a sealed value copied onto another tenant does not open. The tenant's server URL is
 * checked against the SSRF guard when it is stored (a 400) and again before every call
 * (`replies/channels/evolution.ts`).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { type Clock, isoTime } from '../kernel/clock.js';
import { InvalidRequestError } from '../kernel/errors.js';
import { readItem } from '../kernel/read-item.js';
import type { SecretBox } from '../kernel/secret-box.js';
import * as z from '../kernel/zod.js';
import { keys, providerCredentialItem, toProviderCredential } from './items.js';

/** The purpose the sealing key is derived for (`secretBox(platformKey, PROVIDER_CREDENTIALS)`). */
export const PROVIDER_CREDENTIALS = 'onceflow/provider-credential/v1';

export const providerCredentialSchemas = {
  evolution: z.strictObject({
    baseUrl: z.url({ protocol: /^https?$/ }).check(z.maxLength(2048)),
    apiKey: z.string().check(z.minLength(1), z.maxLength(512)),
  }),
  ghl: z.strictObject({ token: z.string().check(z.minLength(1), z.maxLength(4096)) }),
  // Unipile access tokens are opaque strings.
  unipile: z.strictObject({
    apiKey: z
      .string()
      .check(z.minLength(8), z.maxLength(512), z.regex(/^\S+$/, 'must have no spaces')),
  }),
} as const;

export type ProviderName = keyof typeof providerCredentialSchemas;
export const PROVIDER_NAMES = Object.keys(providerCredentialSchemas) as ProviderName[];
export type ProviderCredentials<P extends ProviderName> = z.output<
  (typeof providerCredentialSchemas)[P]
>;

export function isProviderName(name: string): name is ProviderName {
  return (PROVIDER_NAMES as string[]).includes(name);
}

/** The port: sealed values by tenant and provider. */
export interface ProviderCredentialStore {
  put(tenantId: string, provider: ProviderName, sealed: string, at: string): Promise<void>;
  get(tenantId: string, provider: ProviderName): Promise<string | undefined>;
}

export class DynamoDbProviderCredentialStore implements ProviderCredentialStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async put(tenantId: string, provider: ProviderName, sealed: string, at: string): Promise<void> {
    // A replacement is the newest word: last writer wins (a rotation), nothing else to keep once.
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: providerCredentialItem({ tenantId, provider, sealed, updatedAt: at }),
      }),
    );
  }

  async get(tenantId: string, provider: ProviderName): Promise<string | undefined> {
    const raw = await readItem(this.ddb, this.table, keys.providerCredential(tenantId, provider));
    return raw ? toProviderCredential(raw).sealed : undefined;
  }
}

export interface ProviderCredentialDeps {
  readonly store: ProviderCredentialStore;
  readonly box: SecretBox;
  readonly clock: Clock;
  /** The SSRF guard of a tenant-given URL: throws why it is refused. */
  readonly checkUrl: (url: string) => Promise<void>;
}

const boundTo = (tenantId: string, provider: ProviderName) => `${tenantId}|${provider}`;

/** Validates, guards and seals the provider's credentials of the tenant (replacing any before). */
export async function saveProviderCredentials(
  deps: ProviderCredentialDeps,
  tenantId: string,
  provider: ProviderName,
  body: unknown,
): Promise<void> {
  const parsed = providerCredentialSchemas[provider].safeParse(body);
  if (!parsed.success) {
    throw new InvalidRequestError(
      `The ${provider} credentials are not valid.`,
      parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
    );
  }
  if ('baseUrl' in parsed.data && typeof parsed.data.baseUrl === 'string') {
    try {
      await deps.checkUrl(parsed.data.baseUrl);
    } catch (error) {
      throw new InvalidRequestError('The baseUrl is not an allowed target.', [
        { field: 'baseUrl', message: (error as Error).message },
      ]);
    }
  }
  const sealed = deps.box.seal(JSON.stringify(parsed.data), boundTo(tenantId, provider));
  await deps.store.put(tenantId, provider, sealed, isoTime(deps.clock));
}

/** The provider's credentials of the tenant, opened, or undefined when none are stored. */
export async function loadProviderCredentials<P extends ProviderName>(
  deps: Pick<ProviderCredentialDeps, 'store' | 'box'>,
  tenantId: string,
  provider: P,
): Promise<ProviderCredentials<P> | undefined> {
  const sealed = await deps.store.get(tenantId, provider);
  if (!sealed) return undefined;
  const plain = deps.box.open(sealed, boundTo(tenantId, provider));
  return providerCredentialSchemas[provider].parse(JSON.parse(plain)) as ProviderCredentials<P>;
}
