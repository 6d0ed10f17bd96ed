/**
 * Credential items in the `tenants` table: `CRED#<sha256> / CRED` maps a credential hash to its
 * tenant and kind. Only hashes are stored; a rotation deletes the old items in the same transaction
 * that writes the new ones (see `tenant-store.ts`). The kernel authenticates through
 * `CredentialStore.find`, injected as its `CredentialLookup`.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { CredentialKind, CredentialRecord } from '../kernel/auth.js';

export interface CredentialItem extends CredentialRecord {
  readonly pk: string;
  readonly sk: 'CRED';
}

export function credentialKey(hash: string): { pk: string; sk: 'CRED' } {
  return { pk: `CRED#${hash}`, sk: 'CRED' };
}

export function credentialItem(
  hash: string,
  tenantId: string,
  kind: CredentialKind,
): CredentialItem {
  return { ...credentialKey(hash), tenantId, kind, hash };
}

const KINDS: readonly CredentialKind[] = ['api', 'webhook', 'export'];

function toRecord(item: Record<string, unknown> | undefined): CredentialRecord | undefined {
  if (!item) return undefined;
  const { tenantId, kind, hash } = item;
  if (typeof tenantId !== 'string' || typeof hash !== 'string') return undefined;
  const known = KINDS.find((k) => k === kind);
  return known ? { tenantId, kind: known, hash } : undefined;
}

export interface CredentialStore {
  /** The credential stored under this hash, if any. */
  find(hash: string): Promise<CredentialRecord | undefined>;
}

export class DynamoDbCredentialStore implements CredentialStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async find(hash: string): Promise<CredentialRecord | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: credentialKey(hash) }),
    );
    return toRecord(out.Item);
  }
}
