/** Trigger: HTTP API `GET /v1/campaigns/{campaignId}` (operator key): status and totals. */
import { authenticate } from '../../kernel/auth.js';
import { ddb } from '../../kernel/clients.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { describeCampaign } from '../campaign-store.js';
import { campaignStore } from '../deps.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(ddb, request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  return { status: 200, body: await describeCampaign(campaignStore(), tenantId, campaignId) };
});
