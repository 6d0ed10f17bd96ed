/**
 * Trigger: HTTP API `POST /v1/work-queues/{queueType}/validate` (operator key): pre-call
 * validation of `{"userIds": [...]}` (`source: pre_call_validation`).
 */
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { ledgerPathParam, validateBody } from '../schemas.js';
import { validateQueue } from '../validation.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const queueType = ledgerPathParam(request, 'queueType');
  const { userIds } = parseJsonBody(request, validateBody);
  return { status: 200, body: await validateQueue(ledgerDeps(), tenantId, queueType, userIds) };
});
