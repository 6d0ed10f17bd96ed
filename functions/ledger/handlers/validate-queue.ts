/**
 * Trigger: HTTP API `POST /v1/work-queues/{queueType}/validate` (operator key): pre-call
 * validation of `{"userIds": [...]}` (`source: pre_call_validation`).
 */
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { ledgerPathParam, validateBody } from '../schemas.js';
import { validateQueue } from '../validation.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed(operatorTenant);

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await operatorTenant(request);
  const queueType = ledgerPathParam(request, 'queueType');
  const { userIds } = parseJsonBody(request, validateBody);
  return { status: 200, body: await validateQueue(ledgerDeps(), tenantId, queueType, userIds) };
});
