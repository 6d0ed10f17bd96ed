/** Trigger: EventBridge Scheduler, every minute: re-rings lost and stale post-processing jobs. */
import { recoverJobs } from '../../jobs/index.js';
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { recoveryDeps } from '../deps.js';

export const handler = scheduledHandler(
  'recoverJobs',
  async () => {
    const report = await recoverJobs(recoveryDeps());
    logger.info('job recovery', { ...report });
    return report;
  },
  // One run at a time: two would read the same due jobs and enqueue each twice.
  { leaseTable: () => tableName('inbound') },
);
