/**
 * Trigger: HTTP API `GET /v1/tenants/{tenantId}` (platform admin key): the tenant's configuration,
 * without credential hashes; 404 for an unknown tenant.
 */
import { requireAdmin } from '../../kernel/auth.js';
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { tenantsDeps } from '../deps.js';
import { toTenantView } from '../tenant-view.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const tenant = await tenantsDeps().tenants.get(tenantId, { consistent: true });
  if (!tenant) throw new NotFoundError(`Tenant ${tenantId} does not exist.`);
  return { status: 200, body: toTenantView(tenant) };
});
