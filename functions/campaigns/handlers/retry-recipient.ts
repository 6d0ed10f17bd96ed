/**
 * Trigger: HTTP API `POST /v1/campaigns/{campaignId}/recipients/{phone}/retry` (operator key) →
 * 202 `{"campaignId", "phone", "status": "pending", "operatorRetries"}`: sends a contact whose
 * outcome is `unknown` once more, deliberately (see `operator-retry.ts`). 409 for any other status,
 * 404 for an unknown campaign or phone, 400 for a phone that is not one.
 */
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { fanoutDeps } from '../deps.js';
import { retryUnknownRecipient } from '../operator-retry.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  // A phone has a `+` (and operators paste it in other formats): the retry normalises and checks it.
  const phone = request.pathParameters.phone ?? '';
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError(`Campaign ${campaignId} does not exist.`);
  const result = await retryUnknownRecipient(fanoutDeps(), tenant, campaignId, phone);
  return { status: 202, body: result };
});
