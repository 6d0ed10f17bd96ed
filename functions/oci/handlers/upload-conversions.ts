/**
 * Trigger: EventBridge Scheduler, every minute. API mode: uploads due conversions and retractions
 * to Google Ads (see `api-upload.ts`; why a schedule and not a queue: docs/oci.md).
 */
import { scheduledHandler } from '../../kernel/schedule.js';
import { logger } from '../../kernel/telemetry.js';
import { uploadPending } from '../api-upload.js';
import { uploadDeps } from '../deps.js';

export const handler = scheduledHandler('uploadOciConversions', async () => {
  const report = await uploadPending(uploadDeps());
  if (report.claimed > 0) logger.info('google ads upload', { ...report });
  return report;
});
