/**
 * Trigger: EventBridge Scheduler, daily. Checks the provider API versions this deployment is
 * configured with against their sunset calendar (see `provider-versions-check.ts`).
 */
import { systemClock } from '../../kernel/clock.js';
import { configuredVersions } from '../../kernel/provider-versions.js';
import { scheduledHandler } from '../../kernel/schedule.js';
import { checkProviderVersions } from '../provider-versions-check.js';

export const handler = scheduledHandler('checkProviderVersions', async () => {
  const report = checkProviderVersions(systemClock, configuredVersions());
  return { refused: report.refused.length, warnings: report.warnings.length };
});
