import { NotFoundError, UnauthorizedError } from '../kernel/errors.js';
import { type HttpRequest, header } from '../kernel/http.js';
import { matchesHash } from '../kernel/secrets.js';
import { type ClaimKind, type Tenant, tenantStore } from '../tenants/index.js';
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
  request: HttpRequest,
  kind: ClaimKind,
  providerId: string,
): Promise<Tenant> {
  requireWebhookToken(request, kind);
  const token = webhookToken(request) as string;
  const tenant = await tenantStore().findByClaim(kind, providerId);
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
