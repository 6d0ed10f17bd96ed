/**
 * The metrics catalogue is the one list: every metric name the code emits is declared in it, and
 * every declared metric is shown by the local dashboard page and the runbook (the CloudWatch
 * dashboard and alarms: test/infra/observability.test.ts). The runbook's metrics table is the
 * generated one, and every alarm has its runbook section.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogueRows } from '../../lib/local/dashboard.js';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import {
  alarmNames,
  METRICS,
  RUNBOOK_TABLE_BEGIN,
  RUNBOOK_TABLE_END,
  renderMetricsTable,
} from '../../lib/metrics-catalogue.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Every literal metric name the code can emit: passed to countMetric / addMetric / a context's
 * `emit`, or held in a metric-name map (`const OciMetric = {...}`, `const METRIC: ... = {...}`)
 * that a call indexes.
 */
function emittedMetricNames(files: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  const call = /\b(?:countMetric|addMetric|emit)\(\s*['"`]([A-Za-z][A-Za-z0-9]*)['"`]/g;
  const map = /\bconst\s+\w*(?:Metric|METRIC)\w*[^=]*=\s*\{([^}]*)\}/g;
  const value = /:\s*['"`]([A-Z][A-Za-z0-9]*)['"`]/g;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(call)) {
      if (match[1]) found.set(match[1], file);
    }
    for (const block of text.matchAll(map)) {
      for (const match of (block[1] ?? '').matchAll(value)) {
        if (match[1]) found.set(match[1], file);
      }
    }
  }
  return found;
}

const runbook = readFileSync(join(PROJECT_ROOT, 'docs/runbook.md'), 'utf8');

describe('metrics catalogue', () => {
  it('declares every metric name the code emits', () => {
    const emitted = emittedMetricNames(sourceFiles(join(PROJECT_ROOT, 'functions')));
    expect(emitted.size).toBeGreaterThan(10);
    const declared = new Set(METRICS.map((m) => m.name));
    const missing = [...emitted].filter(([name]) => !declared.has(name));
    expect(missing, 'emitted but not in lib/metrics-catalogue.ts').toEqual([]);
  });

  it('finds an undeclared metric (the scan is not vacuous)', () => {
    const probe = join(PROJECT_ROOT, 'test/unit/metrics-catalogue.test.ts');
    // This file itself names a metric in a countMetric call inside a string: the scan must see it.
    const names = emittedMetricNames([probe]);
    expect(names.has('UndeclaredProbeMetric')).toBe(true);
    expect(METRICS.some((m) => m.name === 'UndeclaredProbeMetric')).toBe(false);
    // countMetric('UndeclaredProbeMetric')
    const maps = emittedMetricNames([join(PROJECT_ROOT, 'functions/oci/metrics.ts')]);
    expect(maps.has('OciStaleRecovered')).toBe(true);
  });

  it('has unique names, each with a meaning', () => {
    const names = METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of METRICS) expect(m.meaning.length).toBeGreaterThan(10);
  });

  it('marks as pending only metrics the code does not emit yet', () => {
    const emitted = emittedMetricNames(sourceFiles(join(PROJECT_ROOT, 'functions')));
    const pendingButEmitted = METRICS.filter((m) => m.pendingFrom && emitted.has(m.name)).map(
      (m) => m.name,
    );
    expect(pendingButEmitted, 'emitted now: drop pendingFrom').toEqual([]);
  });

  it('shows every catalogue metric on the local dashboard page', () => {
    const shown = catalogueRows({}).flatMap((row) => row.metrics.map((m) => m.name));
    expect(shown.sort()).toEqual(METRICS.map((m) => m.name).sort());
  });

  it("keeps docs/runbook.md's metrics table as generated (npx onceflow docs)", () => {
    const begin = runbook.indexOf(RUNBOOK_TABLE_BEGIN);
    const end = runbook.indexOf(RUNBOOK_TABLE_END);
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(runbook.slice(begin + RUNBOOK_TABLE_BEGIN.length, end).trim()).toBe(
      renderMetricsTable(),
    );
    for (const m of METRICS) expect(runbook).toContain(`\`${m.name}\``);
  });

  it('has a runbook section per alarm', () => {
    for (const alarm of alarmNames()) {
      expect(runbook, `## ${alarm} in docs/runbook.md`).toMatch(new RegExp(`^## ${alarm}$`, 'm'));
    }
  });
});
