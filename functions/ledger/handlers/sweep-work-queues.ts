/**
 * Trigger: EventBridge Scheduler, every minute: the cleanup sweep applies stored evidence not yet
 * applied (`source: cleanup`), found through the sparse sweep index.
 */
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { ledgerDeps } from '../deps.js';
import { sweepWorkQueues } from '../sweeps.js';

export const handler = scheduledHandler(
  'sweepWorkQueues',
  async () => {
    const report = await sweepWorkQueues(ledgerDeps());
    if (report.examined > 0) logger.info('work-queue cleanup sweep', { ...report });
    return report;
  },
  // One run at a time: two would apply the same pending evidence (each conversion is still
  // logged once: its write is conditional).
  { leaseTable: () => tableName('ledger') },
);
