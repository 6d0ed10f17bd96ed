/**
 * Trigger: HTTP API `GET /v1/campaigns?cursor=&limit=` (operator key) → `{"campaigns": [{…, "totals",
 * "progress"}], "nextCursor"}`: the tenant's campaigns, newest first, from its listing partition
 * (see `campaign-listing.ts`; no scan).
 */
import { httpHandler } from '../../kernel/http.js';
import { parsePageLimit } from '../../kernel/page-limit.js';
import { authenticate } from '../../tenants/index.js';
import { listCampaigns, MAX_CAMPAIGNS_PER_PAGE } from '../campaign-listing.js';
import { campaignDeps, messagesPerSecond } from '../deps.js';
import { campaignSettings } from '../settings.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const limit = parsePageLimit(request.query.limit, { fallback: 20, max: MAX_CAMPAIGNS_PER_PAGE });
  const page = await listCampaigns(campaignDeps(), tenantId, {
    limit,
    cursor: request.query.cursor,
    configuredRate: await messagesPerSecond(tenantId),
    providerTimeoutSeconds: campaignSettings.providerTimeoutSeconds,
  });
  return { status: 200, body: page };
});
