/**
 * Provider API versions as a policy: each version onceflow may speak is a setting, checked against
 * a small calendar of the providers' announced sunsets. A version past its sunset is refused (at
 * start-up, at `cdk synth`, by the daily check and by the client before it sends); one within
 * `SUNSET_WARNING_DAYS` of its sunset is warned about (a metric with an alarm). A version not in the
 * calendar is refused too: nobody knows when it ends, so add it here with its source first.
 *
 * Pure: the clock is an argument, the environment is read only by `configuredVersions`.
 */

export type VersionedProvider = 'googleAds' | 'whatsappGraph';

export interface KnownVersion {
  readonly version: string;
  /** ISO date (UTC midnight) from which requests to this version fail; undefined: not announced. */
  readonly sunsetAt?: string;
  /** Where the date comes from, and whether Google or Meta gave a day or only a month. */
  readonly source: string;
}

/**
 * Google Ads API: a request to a sunset version fails (REST: 404; gRPC: UNIMPLEMENTED).
 * Confirmed days are from Google's "sunset reminder" posts on the Ads Developer Blog; the later
 * ones are the projected months of "More frequent releases coming for the Google Ads API"
 * (https://developers.google.com/ads/blog/posts/2025/09/more-frequent-releases-coming-for,
 * 2025-09-04), taken as the FIRST day of the month so a warning is never late. Minor versions
 * (v25_1, v25_2) share their major's sunset and the same URL path (`/v25/`).
 * The calendar page: https://developers.google.com/google-ads/api/docs/sunset-dates
 */
const GOOGLE_ADS: readonly KnownVersion[] = [
  {
    version: 'v19',
    sunsetAt: '2026-02-11',
    source: 'developers.google.com/ads/blog/posts/2025/12/google-ads-api-v19-sunset-reminder',
  },
  {
    version: 'v20',
    sunsetAt: '2026-06-10',
    source: 'developers.google.com/ads/blog/posts/2026/04/google-ads-api-v20-sunset-reminder',
  },
  {
    version: 'v21',
    sunsetAt: '2026-08-05',
    source: 'developers.google.com/ads/blog/posts/2026/06/google-ads-api-v21-sunset-reminder',
  },
  {
    version: 'v22',
    sunsetAt: '2026-10-07',
    source: 'developers.google.com/ads/blog/posts/2026/09/google-ads-api-v22-sunset-reminder',
  },
  {
    version: 'v23',
    sunsetAt: '2027-02-01',
    source: 'projected "February 2027" (2025-09-04 release schedule post); day not yet announced',
  },
  {
    version: 'v24',
    sunsetAt: '2027-05-01',
    source: 'projected "May 2027" (2025-09-04 release schedule post); day not yet announced',
  },
  {
    version: 'v25',
    sunsetAt: '2027-08-01',
    source: 'projected "August 2027" (2025-09-04 release schedule post); day not yet announced',
  },
  {
    // Released (the sunset-dates page: "If you are new to the Google Ads API, we recommend that
    // you start with v26"); no protos for it in the installed google-ads-node, so not the default.
    version: 'v26',
    sunsetAt: '2027-11-01',
    source: 'projected "November 2027" (2025-09-04 release schedule post); day not yet announced',
  },
];

/**
 * Graph API (WhatsApp Cloud API): "available until" dates of the Graph API changelog
 * (https://developers.facebook.com/docs/graph-api/changelog/versions/). Meta serves a call to an
 * expired version with the next oldest usable one (Platform Versioning,
 * https://developers.facebook.com/docs/graph-api/guides/versioning), so an expired version does not
 * fail loudly: it silently changes behaviour, which is why it is refused here.
 */
const GRAPH: readonly KnownVersion[] = [
  { version: 'v20.0', sunsetAt: '2026-09-24', source: 'Graph API changelog: versions' },
  { version: 'v21.0', sunsetAt: '2027-01-21', source: 'Graph API changelog: versions' },
  { version: 'v22.0', sunsetAt: '2027-05-20', source: 'Graph API changelog: versions' },
  { version: 'v23.0', sunsetAt: '2027-10-08', source: 'Graph API changelog: versions' },
  { version: 'v24.0', sunsetAt: '2028-02-18', source: 'Graph API changelog: versions' },
  { version: 'v25.0', sunsetAt: '2028-07-29', source: 'Graph API changelog: versions' },
  { version: 'v26.0', source: 'Graph API changelog: released 2026-07-29, end date TBD' },
];

export const VERSION_CALENDAR: Readonly<Record<VersionedProvider, readonly KnownVersion[]>> = {
  googleAds: GOOGLE_ADS,
  whatsappGraph: GRAPH,
};

/**
 * The defaults: the newest Google Ads version (the one whose protos `google-ads-node` 25 ships and
 * the tests validate against) and the newest Graph version with a published end date.
 */
export const DEFAULT_VERSIONS: Readonly<Record<VersionedProvider, string>> = {
  googleAds: 'v25',
  whatsappGraph: 'v25.0',
};

/** The setting each version is read from (the manifest gives it to the functions that call out). */
export const VERSION_ENV: Readonly<Record<VersionedProvider, string>> = {
  googleAds: 'GOOGLE_ADS_API_VERSION',
  whatsappGraph: 'WHATSAPP_API_VERSION',
};

/** Warn this long before a sunset: two months leave time for an upgrade and its review. */
export const SUNSET_WARNING_DAYS = 60;
const DAY_MS = 86_400_000;

export type VersionStatus =
  | { readonly state: 'ok'; readonly sunsetAt?: string; readonly daysLeft?: number }
  | { readonly state: 'sunset_soon'; readonly sunsetAt: string; readonly daysLeft: number }
  | { readonly state: 'sunset'; readonly sunsetAt: string }
  | { readonly state: 'unknown' };

export function versionStatus(
  provider: VersionedProvider,
  version: string,
  now: number,
): VersionStatus {
  const known = VERSION_CALENDAR[provider].find((v) => v.version === version);
  if (!known) return { state: 'unknown' };
  if (!known.sunsetAt) return { state: 'ok' };
  const sunset = Date.parse(`${known.sunsetAt}T00:00:00Z`);
  if (now >= sunset) return { state: 'sunset', sunsetAt: known.sunsetAt };
  const daysLeft = Math.ceil((sunset - now) / DAY_MS);
  if (daysLeft <= SUNSET_WARNING_DAYS) {
    return { state: 'sunset_soon', sunsetAt: known.sunsetAt, daysLeft };
  }
  return { state: 'ok', sunsetAt: known.sunsetAt, daysLeft };
}

export interface VersionFinding {
  readonly provider: VersionedProvider;
  readonly version: string;
  readonly status: VersionStatus;
  /** One sentence for a log line, a synth error or the runbook. */
  readonly message: string;
}

function describe(provider: VersionedProvider, version: string, status: VersionStatus): string {
  const setting = VERSION_ENV[provider];
  const newest = VERSION_CALENDAR[provider].at(-1)?.version;
  switch (status.state) {
    case 'sunset':
      return `${setting}=${version} was sunset on ${status.sunsetAt}: every request to it fails; set a current version (newest known: ${newest})`;
    case 'sunset_soon':
      return `${setting}=${version} is sunset on ${status.sunsetAt} (in ${status.daysLeft} days): upgrade before then (newest known: ${newest})`;
    case 'unknown':
      return `${setting}=${version} is not in the version calendar (functions/kernel/provider-versions.ts): add it with its sunset date and source, or use one of ${VERSION_CALENDAR[
        provider
      ]
        .map((v) => v.version)
        .join(', ')}`;
    default:
      return `${setting}=${version} is current`;
  }
}

export function checkVersion(
  provider: VersionedProvider,
  version: string,
  now: number,
): VersionFinding {
  const status = versionStatus(provider, version, now);
  return { provider, version, status, message: describe(provider, version, status) };
}

/** The versions in force: each setting from `env`, else its default. */
export function configuredVersions(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<VersionedProvider, string> {
  return {
    googleAds: env[VERSION_ENV.googleAds] || DEFAULT_VERSIONS.googleAds,
    whatsappGraph: env[VERSION_ENV.whatsappGraph] || DEFAULT_VERSIONS.whatsappGraph,
  };
}

/** A refused version is a sunset one or one the calendar does not know. */
export function isRefused(finding: VersionFinding): boolean {
  return finding.status.state === 'sunset' || finding.status.state === 'unknown';
}

/** Every configured version checked at `now`: the refused ones and the ones to warn about. */
export function checkVersions(
  versions: Readonly<Record<VersionedProvider, string>>,
  now: number,
): { refused: VersionFinding[]; warnings: VersionFinding[] } {
  const findings = (Object.keys(versions) as VersionedProvider[]).map((p) =>
    checkVersion(p, versions[p], now),
  );
  return {
    refused: findings.filter(isRefused),
    warnings: findings.filter((f) => f.status.state === 'sunset_soon'),
  };
}
