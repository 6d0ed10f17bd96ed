/** Trigger: HTTP API `DELETE /v1/event-endpoints/{endpointId}` (operator key). */
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { eventsStore } from '../deps.js';
import { deleteEndpoint } from '../endpoints.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  await deleteEndpoint({ store: eventsStore() }, tenantId, endpointId);
  return { status: 200, body: { endpointId, deleted: true } };
});
