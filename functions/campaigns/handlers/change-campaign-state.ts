/**
 * Trigger: HTTP API `POST /v1/campaigns/{campaignId}/start`, `.../pause`, `.../resume` (operator
 * key) → 202. Start is idempotent: starting again re-rings fan-out for the shards not done, which is
 * also how a start that crashed half-way resumes. Resume re-rings the pending recipients (senders
 * drop the queue messages of a paused campaign). See `lifecycle.ts` `changeCampaignState`.
 */
import { httpHandler, parseWith, pathParam } from '../../kernel/http.js';
import * as z from '../../kernel/zod.js';
import { authenticate } from '../../tenants/index.js';
import { fanoutDeps } from '../deps.js';
import { changeCampaignState } from '../lifecycle.js';

/** The action is the route's last word (the manifest routes exactly these three here). */
const actionSchema = z.enum(['start', 'pause', 'resume']);

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  const action = parseWith(actionSchema, request.routeKey.split('/').at(-1), 'path');
  const campaign = await changeCampaignState(fanoutDeps(), tenantId, campaignId, action);
  return { status: 202, body: { campaignId, status: campaign.status } };
});
