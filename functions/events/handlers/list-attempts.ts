/**
 * Trigger: HTTP API `GET /v1/event-endpoints/{endpointId}/attempts?status=&cursor=` (operator key).
 */
import { httpHandler, parseWith, pathParam } from '../../kernel/http.js';
import { parsePageLimit } from '../../kernel/page-limit.js';
import { authenticate } from '../../tenants/index.js';
import { eventsStore } from '../deps.js';
import { listAttempts } from '../endpoints.js';
import { attemptsQuerySchema } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const endpointId = pathParam(request, 'endpointId');
  const query = parseWith(attemptsQuerySchema, request.query, 'query');
  const limit = parsePageLimit(query.limit, { fallback: 50, max: 200 });
  const page = await listAttempts({ store: eventsStore() }, tenantId, endpointId, {
    limit,
    ...(query.status ? { status: query.status } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return {
    status: 200,
    body: {
      attempts: page.attempts.map((a) => ({
        eventId: a.eventId,
        type: a.type,
        cycle: a.cycle,
        status: a.status,
        attempts: a.attempts,
        lastStatusCode: a.lastStatusCode ?? null,
        lastError: a.lastError ?? null,
        nextAttemptAt: a.status === 'pending' ? (a.nextAttemptAt ?? null) : null,
        createdAt: a.createdAt,
        deliveredAt: a.deliveredAt ?? null,
      })),
      nextCursor: page.nextCursor,
    },
  };
});
