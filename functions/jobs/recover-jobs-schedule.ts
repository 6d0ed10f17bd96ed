/** Trigger: EventBridge Scheduler, every minute: re-rings lost and stale post-processing jobs. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import { logger, withTelemetry } from '../kernel/telemetry.js';
import { recoverJobs } from './recover-jobs.js';

export const handler = middy(async () =>
  withTelemetry({ source: 'schedule:recoverJobs' }, async () => {
    const report = await recoverJobs({
      ddb,
      sqs,
      clock: systemClock,
      table: tableName('inbound'),
      jobsQueueUrl: queueUrl('jobs'),
    });
    logger.info('job recovery', { ...report });
    return report;
  }),
).use(injectLambdaContext(logger));
