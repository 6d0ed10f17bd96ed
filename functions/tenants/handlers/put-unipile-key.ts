/**
 * Trigger: HTTP API `PUT /v1/tenants/{tenantId}/unipile/api-key` (platform admin key): the tenant's
 * Unipile API key, sealed at rest (`provider-keys.ts`); replaces the previous one. Idempotent by
 * nature; the key is never answered back.
 */
import { requireAdmin } from '../../kernel/auth.js';
import { systemClock } from '../../kernel/clock.js';
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { providerKeyBox, tenantsDeps } from '../deps.js';
import { providerKeyBodySchema, setProviderKey } from '../provider-keys.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const { apiKey } = parseJsonBody(request, providerKeyBodySchema);
  const deps = tenantsDeps();
  const { updatedAt } = await setProviderKey(
    {
      keys: deps.providerKeys,
      box: await providerKeyBox(),
      clock: systemClock,
      tenantExists: async (id) => (await deps.tenants.get(id, { consistent: true })) !== undefined,
    },
    tenantId,
    'unipile',
    apiKey,
  );
  return { status: 200, body: { tenantId, unipile: { apiKeySet: true, updatedAt } } };
});
