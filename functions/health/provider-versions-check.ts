/**
 * The daily check of the provider API versions in force (`kernel/provider-versions.ts`): one
 * `ProviderVersionSunsetSoon` per version within 60 days of its sunset, one
 * `ProviderVersionRejected` per version past it (or unknown to the calendar); both have alarms, and
 * docs/runbook.md says what to do. The clock is an argument, so a test moves it past a sunset.
 */
import type { Clock } from '../kernel/clock.js';
import {
  checkVersions,
  type VersionedProvider,
  type VersionFinding,
} from '../kernel/provider-versions.js';
import { countMetric, logger } from '../kernel/telemetry.js';

export interface VersionReport {
  readonly refused: readonly VersionFinding[];
  readonly warnings: readonly VersionFinding[];
}

export function checkProviderVersions(
  clock: Clock,
  versions: Readonly<Record<VersionedProvider, string>>,
): VersionReport {
  const report = checkVersions(versions, clock.now());
  for (const finding of report.refused) {
    countMetric('ProviderVersionRejected');
    logger.error('provider api version refused', { reason: finding.message });
  }
  for (const finding of report.warnings) {
    countMetric('ProviderVersionSunsetSoon');
    logger.warn('provider api version near its sunset', { reason: finding.message });
  }
  return report;
}
