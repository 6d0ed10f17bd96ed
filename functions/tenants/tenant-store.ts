/**
 * Tenants: their configuration, the provider identifiers they own, and their credentials.
 *
 * Items in the `tenants` table:
 * - `TENANT#<id> / CONFIG`: the configuration, a `version` for optimistic concurrency, credential hashes.
 * - `CLAIM#<kind>#<id> / CLAIM`: the uniqueness item of a provider identifier (a WhatsApp phone
 *   number id, a GHL location id, a WhatsApp Web instance), naming its one owner. Written in the
 *   same transaction as the configuration, so two tenants can never own one identifier.
 * - `CRED#<sha256> / CRED`: a credential hash and its tenant (see functions/kernel/auth.ts).
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type CredentialKind, credentialItem, credentialKey } from '../kernel/auth.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { tableName } from '../kernel/config.js';
import { ConflictError, NotFoundError } from '../kernel/errors.js';
import { generateSecret, hashSecret } from '../kernel/secrets.js';

const providerId = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,128}$/, 'must be 1-128 letters, digits, _ . : @ -');
const idList = z
  .array(providerId)
  .max(30)
  .refine((ids) => new Set(ids).size === ids.length, {
    message: 'must not repeat an id',
  });

export const tenantConfigSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    defaultCountry: z
      .string()
      .length(2)
      .transform((c) => c.toUpperCase())
      .refine((c) => isSupportedCountry(c), 'must be an ISO 3166-1 alpha-2 country code'),
    whatsapp: z.object({ phoneNumberIds: idList }).strict().optional(),
    ghl: z.object({ locationIds: idList }).strict().optional(),
    whatsappWeb: z.object({ instances: idList }).strict().optional(),
    googleAds: z
      .object({
        customerId: z.string().regex(/^\d{10}$/, 'must be the 10-digit customer id'),
        conversionAction: z
          .string()
          .regex(
            /^customers\/\d{10}\/conversionActions\/\d+$/,
            'must be a conversion action resource name',
          ),
        uploadMode: z.enum(['script', 'api']).default('script'),
      })
      .strict()
      .optional(),
    messagesPerSecond: z.number().int().min(1).max(1000).default(80),
    /**
     * A campaign send whose outcome stayed unknown past the reconciliation window: `hold` (the
     * contact ends `unknown`, sent again only on an operator's retry) or `retry_once` (one more
     * attempt: the one documented case in which a contact can receive two messages).
     */
    unknownOutcome: z.enum(['hold', 'retry_once']).default('hold'),
  })
  .strict();

export type TenantConfig = z.output<typeof tenantConfigSchema>;

export interface Tenant extends TenantConfig {
  readonly tenantId: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly credentials?: Readonly<Record<CredentialKind, string>>;
}

export type ClaimKind = 'whatsapp_phone' | 'ghl_location' | 'whatsapp_web_instance';

export const tenantKey = (tenantId: string) => ({ pk: `TENANT#${tenantId}`, sk: 'CONFIG' });
export const claimKey = (kind: ClaimKind, id: string) => ({
  pk: `CLAIM#${kind}#${id}`,
  sk: 'CLAIM',
});

function claimsOf(config: Partial<TenantConfig>): Array<{ kind: ClaimKind; id: string }> {
  return [
    ...(config.whatsapp?.phoneNumberIds ?? []).map((id) => ({
      kind: 'whatsapp_phone' as const,
      id,
    })),
    ...(config.ghl?.locationIds ?? []).map((id) => ({ kind: 'ghl_location' as const, id })),
    ...(config.whatsappWeb?.instances ?? []).map((id) => ({
      kind: 'whatsapp_web_instance' as const,
      id,
    })),
  ];
}

const CLAIM_LABEL = 'claim:';
const MAX_OPTIMISTIC_RETRIES = 5;

export async function getTenant(
  ddb: DynamoDBDocumentClient,
  tenantId: string,
  consistent = false,
): Promise<Tenant | undefined> {
  const out = await ddb.send(
    new GetCommand({
      TableName: tableName('tenants'),
      Key: tenantKey(tenantId),
      ConsistentRead: consistent,
    }),
  );
  return out.Item as Tenant | undefined;
}

/** The tenant that owns a provider identifier, if any. */
export async function findTenantByClaim(
  ddb: DynamoDBDocumentClient,
  kind: ClaimKind,
  id: string,
): Promise<Tenant | undefined> {
  const out = await ddb.send(
    new GetCommand({ TableName: tableName('tenants'), Key: claimKey(kind, id) }),
  );
  const owner = out.Item?.tenantId;
  return typeof owner === 'string' ? getTenant(ddb, owner) : undefined;
}

/**
 * Creates or replaces a tenant's configuration and its identifier claims in one transaction,
 * guarded by the version read just before (optimistic concurrency: a concurrent update makes us
 * re-read and try again, never overwrite blind).
 */
export async function putTenantConfig(
  ddb: DynamoDBDocumentClient,
  clock: Clock,
  tenantId: string,
  config: TenantConfig,
): Promise<{ created: boolean }> {
  const table = tableName('tenants');
  for (let attempt = 0; attempt < MAX_OPTIMISTIC_RETRIES; attempt++) {
    const current = await getTenant(ddb, tenantId, true);
    const now = isoTime(clock);
    const wanted = claimsOf(config);
    const held = claimsOf(current ?? {});
    const same = (a: { kind: ClaimKind; id: string }) => (b: { kind: ClaimKind; id: string }) =>
      a.kind === b.kind && a.id === b.id;
    const writes: AtomicWrite[] = [
      {
        label: 'config',
        put: {
          table,
          item: {
            ...tenantKey(tenantId),
            ...config,
            tenantId,
            version: (current?.version ?? 0) + 1,
            createdAt: current?.createdAt ?? now,
            updatedAt: now,
            ...(current?.credentials ? { credentials: current.credentials } : {}),
          },
          ...(current
            ? {
                condition: '#v = :v',
                names: { '#v': 'version' },
                values: { ':v': current.version },
              }
            : { condition: 'attribute_not_exists(pk)' }),
        },
      },
      ...wanted
        .filter((claim) => !held.some(same(claim)))
        .map((claim) => ({
          label: `${CLAIM_LABEL}${claim.kind}:${claim.id}`,
          put: {
            table,
            item: { ...claimKey(claim.kind, claim.id), tenantId, kind: claim.kind, claimedAt: now },
            condition: 'attribute_not_exists(pk) OR tenantId = :me',
            values: { ':me': tenantId },
          },
        })),
      ...held
        .filter((claim) => !wanted.some(same(claim)))
        .map((claim) => ({
          label: `release:${claim.kind}:${claim.id}`,
          delete: {
            table,
            key: claimKey(claim.kind, claim.id),
            condition: 'tenantId = :me',
            values: { ':me': tenantId },
          },
        })),
    ];
    const result = await writeAtomically(ddb, writes);
    if (result.ok) return { created: current === undefined };
    if (result.failed.startsWith(CLAIM_LABEL)) {
      const [kind, ...rest] = result.failed.slice(CLAIM_LABEL.length).split(':');
      const id = rest.join(':');
      const field =
        kind === 'whatsapp_phone'
          ? 'whatsapp.phoneNumberIds'
          : kind === 'ghl_location'
            ? 'ghl.locationIds'
            : 'whatsappWeb.instances';
      throw new ConflictError(
        `The identifier ${id} already belongs to another tenant.`,
        'conflict',
        [{ field, message: `${id} is owned by another tenant` }],
      );
    }
    // The config changed under us (or a claim we held was released): read again and retry.
  }
  throw new ConflictError('The tenant is being updated concurrently; retry.');
}

export interface IssuedCredentials {
  readonly apiKey: string;
  readonly webhookToken: string;
  readonly exportToken: string;
}

/**
 * Issues fresh credentials and invalidates the previous ones in the same transaction. The secrets
 * are returned once; only their hashes are stored.
 */
export async function issueCredentials(
  ddb: DynamoDBDocumentClient,
  clock: Clock,
  tenantId: string,
): Promise<IssuedCredentials> {
  const table = tableName('tenants');
  for (let attempt = 0; attempt < MAX_OPTIMISTIC_RETRIES; attempt++) {
    const current = await getTenant(ddb, tenantId, true);
    if (!current) throw new NotFoundError(`Tenant ${tenantId} does not exist.`);
    const issued: IssuedCredentials = {
      apiKey: generateSecret('of_key'),
      webhookToken: generateSecret('of_whk'),
      exportToken: generateSecret('of_exp'),
    };
    const hashes: Record<CredentialKind, string> = {
      api: hashSecret(issued.apiKey),
      webhook: hashSecret(issued.webhookToken),
      export: hashSecret(issued.exportToken),
    };
    const writes: AtomicWrite[] = [
      {
        label: 'config',
        update: {
          table,
          key: tenantKey(tenantId),
          update: 'SET credentials = :c, #v = :next, updatedAt = :now',
          condition: '#v = :v',
          names: { '#v': 'version' },
          values: {
            ':c': hashes,
            ':v': current.version,
            ':next': current.version + 1,
            ':now': isoTime(clock),
          },
        },
      },
      ...(Object.entries(hashes) as Array<[CredentialKind, string]>).map(([kind, hash]) => ({
        label: `credential:${kind}`,
        put: {
          table,
          item: credentialItem(hash, tenantId, kind),
          condition: 'attribute_not_exists(pk)',
        },
      })),
      ...Object.values(current.credentials ?? {}).map((hash) => ({
        label: 'revoke',
        delete: { table, key: credentialKey(hash) },
      })),
    ];
    const result = await writeAtomically(ddb, writes);
    if (result.ok) return issued;
  }
  throw new ConflictError('The tenant is being updated concurrently; retry.');
}
