/**
 * Trigger: EventBridge Scheduler, every minute: the cleanup sweep applies stored evidence not yet
 * applied (`source: cleanup`), found through the sparse sweep index.
 */
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { ledgerDeps } from '../deps.js';
import { sweepWorkQueues } from '../sweeps.js';

export const handler = scheduledHandler('sweepWorkQueues', async () => {
  const report = await sweepWorkQueues(ledgerDeps());
  if (report.examined > 0) logger.info('work-queue cleanup sweep', { ...report });
  return report;
});
