/**
 * Trigger: HTTP API `POST /v1/tenants/{tenantId}/credentials` (platform admin key).
 * Not replayable by Idempotency-Key on purpose: a replay would have to store the secrets it shows.
 */
import { requireAdmin } from '../kernel/auth.js';
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { httpHandler, pathParam } from '../kernel/http.js';
import { issueCredentials } from './tenant-store.js';

export const handler = httpHandler(async (request) => {
  await requireAdmin(request);
  const tenantId = pathParam(request, 'tenantId');
  const credentials = await issueCredentials(ddb, systemClock, tenantId);
  return { status: 201, body: credentials };
});
