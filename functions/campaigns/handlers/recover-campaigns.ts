/**
 * Trigger: EventBridge Scheduler, every minute. Re-rings campaign work whose queue message is
 * gone, releases unknown outcomes after the reconciliation window, completes finished campaigns
 * (see `recovery.ts`).
 */
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { recoveryDeps } from '../deps.js';
import { recoverCampaigns } from '../recovery.js';
import { assertSafeReconcileWindow } from '../settings.js';

// Refused at init: recovery must never settle a send whose provider call may still be running.
assertSafeReconcileWindow();

export const handler = scheduledHandler(
  'recoverCampaigns',
  async () => {
    const report = await recoverCampaigns(recoveryDeps());
    const { campaigns: _looked, ...moved } = report;
    if (Object.values(moved).some((n) => n > 0)) logger.info('campaign recovery', { ...report });
    return report;
  },
  // One run at a time: two would ring the same lost work twice and race to settle one outcome.
  { leaseTable: () => tableName('campaigns') },
);
