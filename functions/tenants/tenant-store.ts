/**
 * Tenants: their configuration, the provider identifiers they own, and their credentials. The port
 * (`TenantStore`) and its DynamoDB adapter; the items and their keys are declared in `items.ts`.
 */

import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import type { CredentialKind } from '../kernel/auth.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { ConflictError, NotFoundError } from '../kernel/errors.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import { generateSecret, hashSecret } from '../kernel/secrets.js';
import {
  type ClaimItem,
  claimItem,
  credentialItem,
  keys,
  type Tenant,
  tenantItem,
  toClaim,
  toTenant,
} from './items.js';
import {
  assertUpdateFits,
  CLAIM_FIELD,
  type Claim,
  type ClaimKind,
  claimChanges,
  claimsOf,
  sameConfig,
  type TenantConfig,
  workQueuesEver,
} from './tenant-config.js';

export type { Tenant } from './items.js';
export {
  type ClaimKind,
  type TenantConfig,
  tenantConfigSchema,
} from './tenant-config.js';

/**
 * How long an identifier a tenant released stays unclaimable by any other tenant. Webhooks cache
 * which tenant owns a phone number id for at most this long (`webhooks/deps.ts`), so a delivery
 * routed by a cache entry written before the release can only reach the tenant that released it,
 * never the next owner's neighbour: an id changes hands only after every cache has let it go.
 */
export const CLAIM_RELEASE_HOLD_SECONDS = 60;

export interface IssuedCredentials {
  readonly apiKey: string;
  readonly webhookToken: string;
  readonly exportToken: string;
}

/** The port: what the tenants context needs from storage. */
export interface TenantStore {
  get(tenantId: string, options?: { consistent?: boolean }): Promise<Tenant | undefined>;
  /** The tenant that owns a provider identifier, if any. */
  findByClaim(kind: ClaimKind, id: string): Promise<Tenant | undefined>;
  /** Creates or replaces a configuration with its identifier claims; idempotent. */
  putConfig(tenantId: string, config: TenantConfig): Promise<{ created: boolean }>;
  /** Issues fresh credentials, revoking the previous ones in the same transaction. */
  issueCredentials(tenantId: string): Promise<IssuedCredentials>;
}

const CLAIM_LABEL = 'claim:';
const MAX_OPTIMISTIC_RETRIES = 8;

export class DynamoDbTenantStore implements TenantStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly clock: Clock,
  ) {}

  async get(tenantId: string, options: { consistent?: boolean } = {}) {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.tenant(tenantId),
        ConsistentRead: options.consistent === true,
      }),
    );
    return out.Item ? toTenant(out.Item) : undefined;
  }

  async findByClaim(kind: ClaimKind, id: string) {
    // Strongly consistent: webhooks cache this answer for up to the release hold, counted from
    // before the read, so the read must see every release committed before it.
    const item = await readItem(this.ddb, this.table, keys.claim(kind, id));
    const claim = item ? toClaim(item) : undefined;
    if (!claim || claim.releasedAt !== undefined) return undefined;
    return this.get(claim.tenantId);
  }

  /**
   * One transaction guarded by the version read just before (optimistic concurrency: a concurrent
   * update makes us re-read and try again, never overwrite blind). A PUT of what is already stored
   * writes nothing, so identical concurrent PUTs all succeed and only the first says `created`.
   */
  async putConfig(tenantId: string, config: TenantConfig): Promise<{ created: boolean }> {
    for (let attempt = 0; attempt < MAX_OPTIMISTIC_RETRIES; attempt++) {
      const current = await this.get(tenantId, { consistent: true });
      if (current && sameConfig(current, config)) return { created: false };
      const changes = claimChanges(claimsOf(current ?? {}), claimsOf(config));
      assertUpdateFits(changes);
      const writes = this.configWrites(tenantId, config, current, changes);
      const result = await retryOnConflict(() => writeAtomically(this.ddb, writes));
      if (result.ok) return { created: current === undefined };
      const taken = changes.take.find((c) => result.failed === claimLabel(c));
      if (taken) {
        const heldUntil = result.failures.find((f) => f.label === claimLabel(taken))?.current
          ?.heldUntil;
        const reason =
          typeof heldUntil === 'number'
            ? `was released by another tenant and can be claimed from ${new Date(heldUntil).toISOString()}`
            : 'is owned by another tenant';
        throw new ConflictError(`The identifier ${taken.id} ${reason}.`, 'conflict', [
          { field: CLAIM_FIELD[taken.kind], message: `${taken.id} ${reason}` },
        ]);
      }
      // The config changed under us (or a claim we held was released): read again and retry.
    }
    throw new ConflictError('The tenant is being updated concurrently; retry.');
  }

  private configWrites(
    tenantId: string,
    config: TenantConfig,
    current: Tenant | undefined,
    changes: { take: Claim[]; release: Claim[] },
  ): AtomicWrite[] {
    const now = isoTime(this.clock);
    const tenant: Tenant = {
      ...config,
      tenantId,
      version: (current?.version ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      ...(current?.credentials ? { credentials: current.credentials } : {}),
      ...(current?.workQueues || current?.workQueuesEver || config.workQueues
        ? {
            workQueuesEver: workQueuesEver(
              current?.workQueuesEver,
              current?.workQueues,
              config.workQueues,
            ),
          }
        : {}),
    };
    return [
      {
        label: 'config',
        put: {
          table: this.table,
          item: tenantItem(tenant),
          ...(current
            ? {
                condition: '#v = :v',
                names: { '#v': 'version' },
                values: { ':v': current.version },
              }
            : { condition: 'attribute_not_exists(pk)' }),
        },
      },
      ...changes.take.map((claim): AtomicWrite => {
        const claimed: ClaimItem = { tenantId, kind: claim.kind, claimedAt: now };
        return {
          label: claimLabel(claim),
          put: {
            table: this.table,
            item: claimItem(claim.id, claimed),
            condition: 'attribute_not_exists(pk) OR tenantId = :me OR heldUntil <= :now',
            values: { ':me': tenantId, ':now': this.clock.now() },
          },
        };
      }),
      ...changes.release.map((claim) =>
        conditionalUpdateWrite(`release:${claim.kind}:${claim.id}`, {
          table: this.table,
          key: keys.claim(claim.kind, claim.id),
          set: { releasedAt: now, heldUntil: this.clock.now() + CLAIM_RELEASE_HOLD_SECONDS * 1000 },
          conditions: [
            {
              expression: 'tenantId = :me AND attribute_not_exists(releasedAt)',
              values: { ':me': tenantId },
            },
          ],
        }),
      ),
    ];
  }

  /**
   * Issues fresh credentials and invalidates the previous ones in the same transaction. The secrets
   * are returned once; only their hashes are stored.
   */
  async issueCredentials(tenantId: string): Promise<IssuedCredentials> {
    for (let attempt = 0; attempt < MAX_OPTIMISTIC_RETRIES; attempt++) {
      const current = await this.get(tenantId, { consistent: true });
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
      const kinds: CredentialKind[] = ['api', 'webhook', 'export'];
      const writes: AtomicWrite[] = [
        conditionalUpdateWrite('config', {
          table: this.table,
          key: keys.tenant(tenantId),
          set: {
            credentials: hashes,
            version: current.version + 1,
            updatedAt: isoTime(this.clock),
          },
          conditions: [
            {
              expression: '#v = :v',
              names: { '#v': 'version' },
              values: { ':v': current.version },
            },
          ],
        }),
        ...kinds.map(
          (kind): AtomicWrite => ({
            label: `credential:${kind}`,
            put: {
              table: this.table,
              item: credentialItem({ hash: hashes[kind], tenantId, kind }),
              condition: 'attribute_not_exists(pk)',
            },
          }),
        ),
        ...Object.values(current.credentials ?? {}).map(
          (hash): AtomicWrite => ({
            label: 'revoke',
            delete: { table: this.table, key: keys.credential(hash) },
          }),
        ),
      ];
      const result = await retryOnConflict(() => writeAtomically(this.ddb, writes));
      if (result.ok) return issued;
    }
    throw new ConflictError('The tenant is being updated concurrently; retry.');
  }
}

function claimLabel(claim: Claim): string {
  return `${CLAIM_LABEL}${claim.kind}:${claim.id}`;
}
