/**
 * Trigger: HTTP API `PUT /v1/event-endpoints/{endpointId}` (operator key). Registers an endpoint
 * (its URL checked by the SSRF guard; the signing secret in the answer once) or updates it.
 */
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { endpointsDeps } from '../deps.js';
import { putEndpoint } from '../endpoints.js';
import { endpointBodySchema } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  const body = parseJsonBody(request, endpointBodySchema);
  const answer = await putEndpoint(endpointsDeps(), tenantId, endpointId, body);
  return { status: 200, body: answer };
});
