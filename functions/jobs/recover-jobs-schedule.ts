/** Trigger: EventBridge Scheduler, every minute: re-rings lost and stale post-processing jobs. */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import { scheduledHandler } from '../kernel/schedule.js';
import { logger } from '../kernel/telemetry.js';
import { recoverJobs } from './recover-jobs.js';

export const handler = scheduledHandler('recoverJobs', async () => {
  const report = await recoverJobs({
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
  });
  logger.info('job recovery', { ...report });
  return report;
});
