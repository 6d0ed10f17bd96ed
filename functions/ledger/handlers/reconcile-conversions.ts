/**
 * Trigger: EventBridge Scheduler, every five minutes: logs conversions whose evidence is still
 * pending after the reconciliation window (`source: reconciliation`, counted in
 * `ConversionsReconciled`, which should stay 0).
 */
import { tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { ledgerDeps } from '../deps.js';
import { reconcileConversions } from '../sweeps.js';

export const handler = scheduledHandler(
  'reconcileConversions',
  async () => {
    const deps = ledgerDeps();
    const report = await reconcileConversions(deps, deps.reconcileWindowSeconds);
    if (report.conversionsLogged > 0) logger.warn('conversions reconciled', { ...report });
    return report;
  },
  // One run at a time: two would read the same missed evidence (each conversion is still
  // logged once: its write is conditional).
  { leaseTable: () => tableName('ledger') },
);
