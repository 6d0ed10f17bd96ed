/**
 * Trigger: HTTP API `POST /v1/event-endpoints/{endpointId}/replay` (operator key, Idempotency-Key):
 * every kept event since `since` delivered again to this endpoint, with the same ids. A job: 202
 * with its `replayId`; the request dispatches for at most `IN_REQUEST_MS`, the events sweep the rest.
 */
import { header, httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate } from '../../tenants/index.js';
import { replayDeps } from '../deps.js';
import { replayEndpoint, replayIdOf } from '../endpoints.js';
import { replayBodySchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant: a retry is one replay. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

/**
 * The request's share of the replay: 10 s of the API's 29 s, leaving room for a page in flight (a
 * log query of 100 events and their dispatch, ~1-2 s) and the idempotency record's writes.
 */
const IN_REQUEST_MS = 10_000;

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  const { since } = parseJsonBody(request, replayBodySchema);
  const until = Date.now() + IN_REQUEST_MS;
  const answer = await replayEndpoint(replayDeps(), tenantId, endpointId, {
    since,
    replayId: replayIdOf(tenantId, endpointId, header(request, 'idempotency-key')),
    hasTime: () => Date.now() < until,
  });
  return { status: 202, body: { endpointId, ...answer } };
});
