/** Trigger: HTTP API `GET /v1/campaigns/{campaignId}` (operator key): status and totals. */

import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { campaignDeps } from '../deps.js';
import { describeCampaign } from '../lifecycle.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  return { status: 200, body: await describeCampaign(campaignDeps(), tenantId, campaignId) };
});
