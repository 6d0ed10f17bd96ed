/**
 * Trigger: EventBridge Scheduler, every five minutes. Recounts active campaigns' recipients and
 * emits `CounterDrift` (expected 0); see `reconcile-counters.ts`.
 */
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { campaignDeps } from '../deps.js';
import { reconcileCampaignCounters } from '../reconcile-counters.js';

export const handler = scheduledHandler(
  'reconcileCampaignCounters',
  async () => {
    const results = await reconcileCampaignCounters(campaignDeps());
    return { campaigns: results.length, drift: results.reduce((sum, r) => sum + r.drift, 0) };
  },
  // One run at a time: two would recount every campaign twice and report its drift twice.
  { leaseTable: () => tableName('campaigns') },
);
