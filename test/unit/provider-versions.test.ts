/**
 * Provider API versions as a policy, on a clock seam: a version is current, warned about 60 days
 * before its sunset, refused from its sunset on; an unknown version is refused; the daily check
 * moves the metrics the alarms watch; the local runtime's start-up check refuses and warns.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../functions/kernel/clock.js';
import {
  checkVersions,
  configuredVersions,
  DEFAULT_VERSIONS,
  SUNSET_WARNING_DAYS,
  VERSION_CALENDAR,
  versionStatus,
} from '../../functions/kernel/provider-versions.js';

const at = (iso: string) => Date.parse(iso);
const clockAt = (iso: string): Clock => ({ now: () => at(iso) });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the version calendar', () => {
  it('v22 (sunset 2026-10-07) is current until 60 days before, warned about, then refused', () => {
    expect(versionStatus('googleAds', 'v22', at('2026-08-07T00:00:00Z')).state).toBe('ok');
    expect(versionStatus('googleAds', 'v22', at('2026-08-08T00:00:00Z'))).toEqual({
      state: 'sunset_soon',
      sunsetAt: '2026-10-07',
      daysLeft: SUNSET_WARNING_DAYS,
    });
    expect(versionStatus('googleAds', 'v22', at('2026-10-06T23:59:59Z')).state).toBe('sunset_soon');
    expect(versionStatus('googleAds', 'v22', at('2026-10-07T00:00:00Z')).state).toBe('sunset');
  });

  it('a version the calendar does not know is unknown (refused), one without a date is current', () => {
    expect(versionStatus('googleAds', 'v99', at('2026-12-06T00:00:00Z')).state).toBe('unknown');
    expect(versionStatus('whatsappGraph', 'v26.0', at('2030-01-01T00:00:00Z')).state).toBe('ok');
  });

  it('the defaults are current today and each calendar entry names its source', () => {
    const today = at('2026-12-06T00:00:00Z');
    const { refused, warnings } = checkVersions(DEFAULT_VERSIONS, today);
    expect(refused).toEqual([]);
    expect(warnings).toEqual([]);
    for (const versions of Object.values(VERSION_CALENDAR)) {
      for (const v of versions) expect(v.source.length).toBeGreaterThan(10);
    }
  });

  it("v26, Google's newest major (the version its sunset-dates page tells newcomers to start with), is current until its projected November 2027 sunset", () => {
    // Before, the calendar stopped at v25: the upgrade Google recommends was refused as unknown,
    // holding every API-mode row until a code change.
    expect(versionStatus('googleAds', 'v26', at('2026-12-06T00:00:00Z'))).toMatchObject({
      state: 'ok',
      sunsetAt: '2027-11-01',
    });
    expect(
      checkVersions({ ...DEFAULT_VERSIONS, googleAds: 'v26' }, at('2026-12-06T00:00:00Z')),
    ).toEqual({ refused: [], warnings: [] });
  });

  it('the settings are read from the environment the manifest gives, else the defaults', () => {
    expect(configuredVersions({})).toEqual(DEFAULT_VERSIONS);
    expect(configuredVersions({ GOOGLE_ADS_API_VERSION: 'v24' }).googleAds).toBe('v24');
  });
});

describe('the daily check', () => {
  it('moves ProviderVersionSunsetSoon within 60 days and ProviderVersionRejected past the sunset', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const { checkProviderVersions } = await import('../../functions/health/index.js');
    const soon = checkProviderVersions(clockAt('2026-12-06T00:00:00Z'), {
      googleAds: 'v25',
      whatsappGraph: 'v21.0',
    });
    expect(soon.warnings.map((w) => w.version)).toEqual(['v21.0']);
    expect(soon.refused).toEqual([]);
    const past = checkProviderVersions(clockAt('2027-08-01T00:00:00Z'), {
      googleAds: 'v25',
      whatsappGraph: 'v25.0',
    });
    expect(past.refused.map((r) => r.message)).toEqual([
      expect.stringContaining('GOOGLE_ADS_API_VERSION=v25 was sunset on 2027-08-01'),
    ]);
    const emitted = [...out.mock.calls, ...log.mock.calls].map((c) => String(c[0])).join('\n');
    expect(emitted).toContain('"ProviderVersionSunsetSoon"');
    expect(emitted).toContain('"ProviderVersionRejected"');
  });
});

describe('local start-up', () => {
  it('refuses a version past its sunset with one line naming the setting, warns about one near it', async () => {
    const { checkSettings } = await import('../../lib/local/runtime.js');
    const saved = { ...process.env };
    try {
      process.env.GOOGLE_ADS_API_VERSION = 'v22';
      expect(() => checkSettings(at('2026-12-06T00:00:00Z'))).toThrow(
        /GOOGLE_ADS_API_VERSION=v22 was sunset on 2026-10-07/,
      );
      process.env.GOOGLE_ADS_API_VERSION = 'v25';
      process.env.WHATSAPP_API_VERSION = 'v21.0';
      expect(checkSettings(at('2026-12-06T00:00:00Z'))).toEqual([
        expect.stringContaining('WHATSAPP_API_VERSION=v21.0 is sunset on 2027-01-21 (in 46 days)'),
      ]);
    } finally {
      process.env = saved;
    }
  }, 30_000); // importing the whole local runtime takes seconds on a loaded 2-core machine
});
