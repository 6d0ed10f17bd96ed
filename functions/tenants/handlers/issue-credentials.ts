/**
 * Trigger: HTTP API `POST /v1/tenants/{tenantId}/credentials` (platform admin key).
 * Not replayable by Idempotency-Key on purpose: a replay would have to store the secrets it shows.
 */
import { requireAdmin } from '../../kernel/auth.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { tenantsDeps } from '../deps.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const credentials = await tenantsDeps().tenants.issueCredentials(tenantId);
  return { status: 201, body: credentials };
});
