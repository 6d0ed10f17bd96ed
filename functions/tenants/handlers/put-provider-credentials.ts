/**
 * Trigger: HTTP API `PUT /v1/tenants/{tenantId}/providers/{provider}` (platform admin key): stores
 * the tenant's outbound credentials of `evolution` (`{"baseUrl", "apiKey"}`), `ghl` (`{"token"}`)
 * or `unipile` (`{"apiKey"}`), sealed; a later PUT replaces them. → 204. Never answered back (write only).
 */
import { requireAdmin } from '../../kernel/auth.js';
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, jsonBody, pathParam } from '../../kernel/http.js';
import { providerCredentialDeps, tenantsDeps } from '../deps.js';
import { isProviderName, saveProviderCredentials } from '../provider-credentials.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const provider = pathParam(request, 'provider');
  if (!isProviderName(provider))
    throw new NotFoundError('No such provider (evolution, ghl, unipile).');
  if (!(await tenantsDeps().tenants.get(tenantId))) throw new NotFoundError('No such tenant.');
  await saveProviderCredentials(
    await providerCredentialDeps(),
    tenantId,
    provider,
    jsonBody(request),
  );
  return { status: 204 };
});
