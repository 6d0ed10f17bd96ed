/** Trigger: HTTP API `PUT /v1/work-queues/{queueType}/members/{userId}` (operator key): join. */
import { httpHandler } from '../../kernel/http.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { joinQueue } from '../membership.js';
import { ledgerPathParam } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const queueType = ledgerPathParam(request, 'queueType');
  const userId = ledgerPathParam(request, 'userId');
  return { status: 200, body: await joinQueue(ledgerDeps(), tenantId, queueType, userId) };
});
