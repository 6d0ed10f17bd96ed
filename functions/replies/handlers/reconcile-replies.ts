/**
 * Trigger: EventBridge Scheduler, every minute. Re-rings queued replies whose doorbell is gone and
 * settles unknown outcomes after the reconcile window by the tenant's policy (`reconcile.ts`).
 */
import { settings, tableName } from '../../kernel/config.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { echoKeyOf, replyChannels, replyDeps, unknownOutcome } from '../deps.js';
import { reconcileReplies } from '../reconcile.js';

export const handler = scheduledHandler(
  'reconcileReplies',
  async () => {
    const report = await reconcileReplies({
      ...replyDeps(),
      channels: replyChannels(),
      echoKeyOf,
      unknownOutcome,
      reconcileWindowSeconds: settings.reconcileWindowSeconds,
    });
    if (Object.values(report).some((n) => n > 0)) logger.info('reply reconcile', { ...report });
    return report;
  },
  { leaseTable: () => tableName('inbound') },
);
