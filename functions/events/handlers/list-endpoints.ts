/** Trigger: HTTP API `GET /v1/event-endpoints` (operator key): the tenant's endpoints, no secrets. */
import { httpHandler } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { eventsStore } from '../deps.js';
import { listEndpoints } from '../endpoints.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpoints = await listEndpoints({ store: eventsStore() }, tenantId);
  return { status: 200, body: { endpoints } };
});
