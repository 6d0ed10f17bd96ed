/**
 * Trigger: EventBridge Scheduler, every minute. Rings again the pending deliveries whose queue
 * message was lost or dead-lettered, and continues the replays their request did not finish
 * (`sweep.ts`). One run at a time (the schedule's lease in the events table).
 */
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { sweepDeps } from '../deps.js';
import { sweepEvents } from '../sweep.js';

/** The run's share of its 120 s timeout: a replay page in flight (~1-2 s) fits in what is left. */
const RUN_BUDGET_MS = 90_000;

export const handler = scheduledHandler(
  'sweepEvents',
  async () => {
    const until = Date.now() + RUN_BUDGET_MS;
    const report = await sweepEvents(sweepDeps(), () => Date.now() < until);
    if (report.rerung > 0 || report.replayPages > 0) logger.info('events sweep', { ...report });
    return report;
  },
  { leaseTable: () => tableName('events') },
);
