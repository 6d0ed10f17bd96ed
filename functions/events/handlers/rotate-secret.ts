/**
 * Trigger: HTTP API `POST /v1/event-endpoints/{endpointId}/secret` (operator key): a new signing
 * secret; for 24 hours every delivery carries both signatures.
 */
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { endpointsDeps } from '../deps.js';
import { rotateSecret } from '../endpoints.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  return { status: 200, body: await rotateSecret(endpointsDeps(), tenantId, endpointId) };
});
