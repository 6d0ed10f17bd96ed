/**
 * Trigger: HTTP API `POST /v1/campaigns` (operator key). Creates a draft campaign with its first
 * page of recipients; an `Idempotency-Key` replays the first answer (and fixes the campaign id, so
 * a create retried after a crash continues the same campaign: `lifecycle.ts`).
 */
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { campaignDeps } from '../deps.js';
import { createCampaignRequest } from '../lifecycle.js';
import { createCampaignSchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const body = parseJsonBody(request, createCampaignSchema);
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError('The tenant of this key no longer exists.');
  const key = request.headers['idempotency-key'];
  const result = await createCampaignRequest(campaignDeps(), tenant, body, key);
  return { status: 201, body: result };
});
