/** Trigger: HTTP API `PUT /v1/tenants/{tenantId}` (platform admin key). Idempotent by nature. */
import { requireAdmin } from '../kernel/auth.js';
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { httpHandler, parseJsonBody, pathParam } from '../kernel/http.js';
import { putTenantConfig, tenantConfigSchema } from './tenant-store.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const config = parseJsonBody(request, tenantConfigSchema);
  const { created } = await putTenantConfig(ddb, systemClock, tenantId, config);
  return { status: 200, body: { tenantId, created } };
});
