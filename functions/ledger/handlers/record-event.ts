/**
 * Trigger: HTTP API `POST /v1/users/{userId}/events` (operator key): conversion evidence, stored
 * once by `eventId` and applied at once (`source: event`). → 202.
 */
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { recordEvent } from '../evidence.js';
import { eventBody, ledgerPathParam } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed(operatorTenant);

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await operatorTenant(request);
  const userId = ledgerPathParam(request, 'userId');
  const input = parseJsonBody(request, eventBody);
  return { status: 202, body: await recordEvent(ledgerDeps(), tenantId, userId, input) };
});
