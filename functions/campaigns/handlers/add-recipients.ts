/**
 * Trigger: HTTP API `POST /v1/campaigns/{campaignId}/recipients` (operator key). Adds a page of up
 * to 5,000 recipients while the campaign is a draft; uniqueness by E.164 holds across pages.
 */
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { sha256Hex } from '../../kernel/secrets.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { campaignDeps } from '../deps.js';
import { addRecipients } from '../recipient-pages.js';
import { addRecipientsSchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  const body = parseJsonBody(request, addRecipientsSchema);
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError('The tenant of this key no longer exists.');
  const key = request.headers['idempotency-key'];
  const result = await addRecipients(
    campaignDeps(),
    tenant,
    campaignId,
    body.recipients,
    body.skipInvalid === true,
    // The page's recipients are marked as this request's, so its retry knows them as its own.
    key ? sha256Hex(`${campaignId}|page|${key}`) : undefined,
  );
  return { status: 200, body: { campaignId, ...result } };
});
