/**
 * Trigger: EventBridge Scheduler, every five minutes. Recounts active campaigns' recipients and
 * emits `CounterDrift` (expected 0); see `reconcile-counters.ts`.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger, withTelemetry } from '../kernel/telemetry.js';
import { reconcileCampaignCounters } from './reconcile-counters.js';
import { campaignStore } from './wiring.js';

export const handler = middy(async () =>
  withTelemetry({ source: 'schedule:reconcileCampaignCounters' }, async () => {
    const results = await reconcileCampaignCounters(campaignStore());
    return { campaigns: results.length, drift: results.reduce((sum, r) => sum + r.drift, 0) };
  }),
).use(injectLambdaContext(logger));
