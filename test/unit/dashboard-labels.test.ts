/**
 * The local dashboard reads at a glance: every catalogue metric has a plain-language label (its
 * name is shown beside it), a metric that counts part of another is shown under it and never added
 * to it, and each plot is a rate on the runtime clock: the tap buckets what the handlers emit by the
 * clock seam, so the last bucket is "now" even after `/_local/clock/advance`.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  catalogueRows,
  METRIC_LABELS,
  PART_OF,
  SERIES,
  tapHandlerOutput,
} from '../../lib/local/dashboard.js';
import { METRICS } from '../../lib/metrics-catalogue.js';

const emf = (name: string, value: number, source = 'http:POST /webhooks/whatsapp') =>
  `${JSON.stringify({
    _aws: {
      Timestamp: 0,
      CloudWatchMetrics: [{ Namespace: 'Onceflow', Metrics: [{ Name: name }] }],
    },
    source,
    [name]: value,
  })}\n`;

function fakeStdout(): NodeJS.WriteStream {
  return new Writable({
    write: (_chunk, _encoding, done) => done(),
  }) as unknown as NodeJS.WriteStream;
}

describe('dashboard labels', () => {
  it('labels every catalogue metric, and only those', () => {
    expect(Object.keys(METRIC_LABELS).sort()).toEqual(METRICS.map((m) => m.name).sort());
  });

  it('shows a part under the metric it belongs to, in the same row', () => {
    for (const [part, whole] of Object.entries(PART_OF)) {
      const a = METRICS.find((m) => m.name === part);
      const b = METRICS.find((m) => m.name === whole);
      expect(a?.guarantee).toBeDefined();
      expect(a?.guarantee).toBe(b?.guarantee);
    }
    const duplicates = catalogueRows({}).find((r) => r.guarantee === 'duplicates');
    expect(duplicates?.metrics.find((m) => m.name === 'WebhookItemDeduped')?.partOf).toBe(
      'DuplicateSuppressed',
    );
  });
});

describe('dashboard series', () => {
  it('counts per 10-second bucket of the runtime clock, the last bucket being now', () => {
    let now = 1_000_000_000_000;
    const stream = fakeStdout();
    const tap = tapHandlerOutput(stream, () => now);
    stream.write(emf('DuplicateSuppressed', 2));
    now += SERIES.bucketSeconds * 1000;
    stream.write(emf('DuplicateSuppressed', 3));
    stream.write(emf('DuplicateSuppressed', 1));
    const series = tap.series().DuplicateSuppressed;
    expect(series?.counts).toHaveLength(SERIES.buckets);
    expect(series?.counts.slice(-2)).toEqual([2, 4]);
    const row = catalogueRows(tap.metrics(), tap.series()).find(
      (r) => r.guarantee === 'duplicates',
    );
    const shown = row?.metrics.find((m) => m.name === 'DuplicateSuppressed');
    expect(shown).toMatchObject({ total: 6, lastTenMinutes: 6, perMinute: 6 });

    // Ten minutes later on the clock seam: a rate, not a lifetime total.
    now += 11 * 60 * 1000;
    stream.write(emf('DuplicateSuppressed', 1));
    const later = catalogueRows(tap.metrics(), tap.series())
      .find((r) => r.guarantee === 'duplicates')
      ?.metrics.find((m) => m.name === 'DuplicateSuppressed');
    expect(later).toMatchObject({ total: 7, lastTenMinutes: 1, perMinute: 1 });
    tap.stop();
  });
});
