/**
 * Trigger: HTTP API `DELETE /v1/work-queues/{queueType}/members/{userId}` (operator key): leave
 * for another reason (`{"reason"}`). Evidence of the stay stays owed and is logged anyway.
 */
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { leaveQueue } from '../membership.js';
import { ledgerPathParam, removeBody } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const queueType = ledgerPathParam(request, 'queueType');
  const userId = ledgerPathParam(request, 'userId');
  const { reason } = parseJsonBody(request, removeBody);
  return {
    status: 200,
    body: await leaveQueue(ledgerDeps(), tenantId, queueType, userId, reason),
  };
});
