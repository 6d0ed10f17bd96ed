/**
 * Authentication of the token-authenticated webhooks (GHL, WhatsApp Web gateway): the tenant is
 * the one owning the provider identifier in the payload, and the token must be that tenant's
 * webhook token (`X-Webhook-Token` or `?token=`), compared with its stored sha256 in constant time.
 * A token of another tenant, an unknown identifier and a tenant without credentials all look the
 * same: 401.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UnauthorizedError } from '../kernel/errors.js';
import { type HttpRequest, header } from '../kernel/http.js';
import { matchesHash } from '../kernel/secrets.js';
import { type ClaimKind, findTenantByClaim, type Tenant } from '../tenants/tenant-store.js';

export function webhookToken(request: HttpRequest): string | undefined {
  const value = header(request, 'x-webhook-token') ?? request.query.token;
  return value && value.length <= 512 ? value : undefined;
}

export async function authenticateWebhook(
  ddb: DynamoDBDocumentClient,
  request: HttpRequest,
  kind: ClaimKind,
  providerId: string,
): Promise<Tenant> {
  const token = webhookToken(request);
  if (!token)
    throw new UnauthorizedError('A webhook token is required (X-Webhook-Token or ?token=).');
  const tenant = await findTenantByClaim(ddb, kind, providerId);
  const stored = tenant?.credentials?.webhook;
  if (!tenant || !stored || !matchesHash(token, stored)) {
    throw new UnauthorizedError('The webhook token is not valid for this account.');
  }
  return tenant;
}
