/**
 * Trigger: EventBridge Scheduler, every minute. Re-rings campaign work whose queue message is
 * gone, releases unknown outcomes after the reconciliation window, completes finished campaigns
 * (see `recovery.ts`).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { settings } from '../kernel/config.js';
import { logger, withTelemetry } from '../kernel/telemetry.js';
import { recoverCampaigns } from './recovery.js';
import { fanoutDeps, messagesPerSecond, sendsQueueIsEmpty } from './wiring.js';

export const handler = middy(async () =>
  withTelemetry({ source: 'schedule:recoverCampaigns' }, async () => {
    const report = await recoverCampaigns({
      ...fanoutDeps(),
      leaseSeconds: settings.leaseSeconds,
      reconcileWindowSeconds: settings.reconcileWindowSeconds,
      messagesPerSecond,
      sendsQueueIsEmpty,
    });
    if (
      report.rerung +
        report.released +
        report.failedUnknown +
        report.fanoutRerung +
        report.completed >
      0
    ) {
      logger.info('campaign recovery', { ...report });
    }
    return report;
  }),
).use(injectLambdaContext(logger));
