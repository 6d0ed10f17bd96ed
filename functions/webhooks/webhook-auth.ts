/**
 * Webhook token authentication for the providers that sign nothing (GoHighLevel, Evolution): the
 * tenant's webhook token in `X-Webhook-Token` or `?token=`.
 *
 * The token is checked before anything about the claimed location or instance is read: it is found
 * by its hash (compared in constant time), and only then is the claim read and required to belong
 * to the token's tenant. An unknown claim and a known claim with a wrong token get the same 401, so
 * which location ids and instance names exist is never visible to a caller without a valid token.
 */
import { UnauthorizedError } from '../kernel/errors.js';
import { type HttpRequest, header } from '../kernel/http.js';
import { matchesHash } from '../kernel/secrets.js';
import {
  type ClaimKind,
  type Tenant,
  tenantOfWebhookToken,
  tenantStore,
} from '../tenants/index.js';
import { logRejected } from './outcomes.js';

export function webhookToken(request: HttpRequest): string | undefined {
  const value = header(request, 'x-webhook-token') ?? request.query.token;
  return value && value.length <= 512 ? value : undefined;
}

/**
 * The token, required (checked before the body is parsed, so a tokenless call is 401 first); the
 * handler passes it on to `authenticateWebhook`, so the request is looked at once.
 */
export function requireWebhookToken(request: HttpRequest, provider: string): string {
  const token = webhookToken(request);
  if (token) return token;
  logRejected(provider, 'no_token');
  throw new UnauthorizedError('A webhook token is required (X-Webhook-Token or ?token=).');
}

const REFUSED = 'The webhook token is not valid for this account.';

export async function authenticateWebhook(
  token: string,
  kind: ClaimKind,
  providerId: string,
): Promise<Tenant> {
  const tokenTenant = await tenantOfWebhookToken(token);
  if (!tokenTenant) {
    logRejected(kind, 'token_mismatch');
    throw new UnauthorizedError(REFUSED);
  }
  const tenant = await tenantStore().findByClaim(kind, providerId);
  const stored = tenant?.credentials?.webhook;
  // The claim must be the token's tenant's, and the token that tenant's current one.
  if (!tenant || tenant.tenantId !== tokenTenant || !stored || !matchesHash(token, stored)) {
    logRejected(kind, tenant ? 'token_of_another_account' : 'unknown_provider_id');
    throw new UnauthorizedError(REFUSED);
  }
  return tenant;
}
