/** Trigger: EventBridge Scheduler, every minute. Rows `processing` past their lease → `retry`. */
import { systemClock } from '../../kernel/clock.js';
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { ociStore } from '../deps.js';
import { recoverStaleRows } from '../stale-recovery.js';

export const handler = scheduledHandler(
  'recoverStaleOciRows',
  async () => {
    const report = await recoverStaleRows({ store: ociStore(), clock: systemClock });
    if (report.recovered > 0) logger.info('oci stale rows recovered', { ...report });
    return report;
  },
  // One run at a time: two would read and try to move the same stale rows.
  { leaseTable: () => tableName('conversions') },
);
