/**
 * Trigger: HTTP API `POST /v1/campaigns/{campaignId}/start`, `.../pause`, `.../resume` (operator
 * key) → 202. Start is idempotent: starting again re-rings fan-out for the shards not done, which is
 * also how a start that crashed half-way resumes. Resume re-rings the pending recipients (senders
 * drop the queue messages of a paused campaign).
 */

import { failpoint } from '../../kernel/failpoints.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { markRunning, pauseCampaign, resumeCampaign } from '../campaign-store.js';
import { fanoutDeps } from '../deps.js';
import { FP_START_AFTER_RUNNING } from '../failpoints.js';
import { ringFanout } from '../fanout.js';
import type { CampaignItem } from '../model.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  const deps = fanoutDeps();
  const action = request.path.split('/').at(-1);
  let campaign: CampaignItem;
  if (action === 'pause') {
    campaign = await pauseCampaign(deps, tenantId, campaignId);
  } else {
    campaign =
      action === 'resume'
        ? await resumeCampaign(deps, tenantId, campaignId)
        : await markRunning(deps, tenantId, campaignId);
    failpoint(FP_START_AFTER_RUNNING);
    if (campaign.status === 'running') await ringFanout(deps, campaign, 'start');
  }
  return { status: 202, body: { campaignId, status: campaign.status } };
});
