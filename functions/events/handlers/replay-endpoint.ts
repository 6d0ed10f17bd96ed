/**
 * Trigger: HTTP API `POST /v1/event-endpoints/{endpointId}/replay` (operator key, Idempotency-Key):
 * every kept event since `since` delivered again to this endpoint, with the same ids.
 */
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate } from '../../tenants/index.js';
import { replayDeps } from '../deps.js';
import { replayEndpoint } from '../endpoints.js';
import { replayBodySchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant: a retry is one replay. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  const { since } = parseJsonBody(request, replayBodySchema);
  const answer = await replayEndpoint(replayDeps(), tenantId, endpointId, since);
  return { status: 202, body: { endpointId, ...answer } };
});
