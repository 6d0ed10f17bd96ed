/**
 * Authentication of the token-authenticated webhooks (GHL, WhatsApp Web gateway): the tenant is
 * the one owning the provider identifier in the payload, and the token must be that tenant's
 * webhook token (`X-Webhook-Token` or `?token=`), compared with its stored sha256 in constant time.
 *
 * An identifier no tenant owns is 404 `not_found` ("No tenant owns this location"): the token was
 * never the problem, and a 401 would send the user rotating credentials for nothing. (It tells a
 * caller that an identifier is unregistered, which reveals nothing about any tenant.) A wrong
 * token, another tenant's token and a tenant without credentials all look the same: 401. Every
 * refusal leaves one log line with the reason, never the token or the body.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotFoundError, UnauthorizedError } from '../kernel/errors.js';
import { type HttpRequest, header } from '../kernel/http.js';
import { matchesHash } from '../kernel/secrets.js';
import { type ClaimKind, findTenantByClaim, type Tenant } from '../tenants/tenant-store.js';
import { logRejected } from './outcomes.js';

const NOUN: Record<string, string> = {
  ghl_location: 'location',
  whatsapp_web_instance: 'instance',
};

export function webhookToken(request: HttpRequest): string | undefined {
  const value = header(request, 'x-webhook-token') ?? request.query.token;
  return value && value.length <= 512 ? value : undefined;
}

/** The token is present (checked before the body is parsed, so a tokenless call is 401 first). */
export function requireWebhookToken(request: HttpRequest, provider: string): void {
  if (webhookToken(request)) return;
  logRejected(provider, 'no_token');
  throw new UnauthorizedError('A webhook token is required (X-Webhook-Token or ?token=).');
}

export async function authenticateWebhook(
  ddb: DynamoDBDocumentClient,
  request: HttpRequest,
  kind: ClaimKind,
  providerId: string,
): Promise<Tenant> {
  requireWebhookToken(request, kind);
  const token = webhookToken(request) as string;
  const tenant = await findTenantByClaim(ddb, kind, providerId);
  if (!tenant) {
    logRejected(kind, 'unknown_provider_id');
    const noun = NOUN[kind] ?? 'identifier';
    throw new NotFoundError(`No tenant owns this ${noun}.`);
  }
  const stored = tenant.credentials?.webhook;
  if (!stored || !matchesHash(token, stored)) {
    logRejected(kind, stored ? 'token_mismatch' : 'tenant_without_credentials');
    throw new UnauthorizedError('The webhook token is not valid for this account.');
  }
  return tenant;
}
