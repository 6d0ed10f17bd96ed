/**
 * Authentication for the three kinds of caller: the platform admin (one key, its hash held as a
 * platform secret), tenants' operators (API keys) and the Google Ads script (export tokens).
 *
 * The kernel knows how a bearer token is read, hashed and compared (in constant time); where a
 * credential hash is stored is the tenants context's business (`functions/tenants/credential-store.ts`),
 * handed in as a `CredentialLookup`.
 */
import { UnauthorizedError } from './errors.js';
import type { HttpRequest } from './http.js';
import { hashSecret, matchesHash, platformSecret } from './secrets.js';

export type CredentialKind = 'api' | 'webhook' | 'export';

/** What a credential hash resolves to. */
export interface CredentialRecord {
  readonly tenantId: string;
  readonly kind: CredentialKind;
  readonly hash: string;
}

/** Finds the credential stored under a sha256 hash (injected by the tenants context). */
export type CredentialLookup = (hash: string) => Promise<CredentialRecord | undefined>;

/** The bearer token of the request, or undefined. */
function bearerToken(request: HttpRequest): string | undefined {
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

/**
 * The tenant a presented token of `kind` belongs to, or undefined. The token is found by its hash
 * (nothing else about the caller is read first) and compared in constant time.
 */
export async function tenantOfToken(
  lookup: CredentialLookup,
  token: string,
  kind: CredentialKind,
): Promise<string | undefined> {
  const record = await lookup(hashSecret(token));
  if (!record || record.kind !== kind || !matchesHash(token, record.hash)) return undefined;
  return record.tenantId;
}

/** Resolves a bearer token of the given kind to its tenant id through `lookup`, or throws 401. */
export async function authenticateWith(
  lookup: CredentialLookup,
  request: HttpRequest,
  kind: Exclude<CredentialKind, 'webhook'>,
): Promise<string> {
  const token = bearerToken(request);
  if (!token) throw new UnauthorizedError();
  const tenantId = await tenantOfToken(lookup, token, kind);
  if (!tenantId) throw new UnauthorizedError();
  return tenantId;
}
