/** Trigger: HTTP API `PUT /v1/tenants/{tenantId}` (platform admin key). Idempotent by nature. */
import { requireAdmin } from '../../kernel/auth.js';
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { tenantsDeps } from '../deps.js';
import { tenantConfigSchema } from '../tenant-config.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const config = parseJsonBody(request, tenantConfigSchema);
  const { created } = await tenantsDeps().tenants.putConfig(tenantId, config);
  return { status: 200, body: { tenantId, created } };
});
