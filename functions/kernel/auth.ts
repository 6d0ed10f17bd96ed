/**
 * Authentication for the three kinds of caller: the platform admin (one key, its hash held as a
 * platform secret), tenants' operators (API keys) and the Google Ads script (export tokens).
 * Tenant credentials are stored only as sha256 hashes, in credential items keyed by that hash; a
 * rotation deletes the old items in the same transaction that writes the new ones.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from './config.js';
import { UnauthorizedError } from './errors.js';
import type { HttpRequest } from './http.js';
import { hashSecret, matchesHash, platformSecret } from './secrets.js';

export type CredentialKind = 'api' | 'webhook' | 'export';

/** Key of the item that maps a credential hash to its tenant. */
export function credentialKey(hash: string): { pk: string; sk: string } {
  return { pk: `CRED#${hash}`, sk: 'CRED' };
}

export function credentialItem(hash: string, tenantId: string, kind: CredentialKind) {
  return { ...credentialKey(hash), tenantId, kind, hash };
}

/** The bearer token of the request, or undefined. */
export function bearerToken(request: HttpRequest): string | undefined {
  const value = request.headers.authorization;
  if (!value) return undefined;
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(value);
  return match?.[1];
}

/** Throws 401 unless the request carries the platform admin key. */
export async function requireAdmin(request: HttpRequest): Promise<void> {
  const token = bearerToken(request);
  const expectedHash = await platformSecret('adminKeyHash');
  if (!token || !matchesHash(token, expectedHash)) {
    throw new UnauthorizedError('The platform admin key is required.');
  }
}

/** Resolves a tenant credential of the given kind to its tenant id, or throws 401. */
export async function authenticate(
  ddb: DynamoDBDocumentClient,
  request: HttpRequest,
  kind: Exclude<CredentialKind, 'webhook'>,
): Promise<string> {
  const token = bearerToken(request);
  if (!token) throw new UnauthorizedError();
  const hash = hashSecret(token);
  const out = await ddb.send(
    new GetCommand({
      TableName: tableName('tenants'),
      Key: credentialKey(hash),
    }),
  );
  const item = out.Item;
  if (
    !item ||
    item.kind !== kind ||
    typeof item.hash !== 'string' ||
    !matchesHash(token, item.hash)
  ) {
    throw new UnauthorizedError();
  }
  return String(item.tenantId);
}
