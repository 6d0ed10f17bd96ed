/**
 * The alarm, secret, key and dashboard figures of docs/deploy.md are counted from the synthesized
 * template (`lib/stack-costs.ts`, written by `npx onceflow docs`), so the guide's count and monthly
 * cost change when the stack does, never by hand.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS, PLATFORM_ALARMS } from '../../lib/metrics-catalogue.js';
import { MANIFEST, OnceflowStack, SECRET_DESCRIPTIONS } from '../../lib/onceflow-stack.js';
import {
  COSTS_BEGIN,
  COSTS_END,
  costSummary,
  countStack,
  deployedTemplate,
  dollars,
  renderCostTable,
  withCostTable,
} from '../../lib/stack-costs.js';
import { testApp } from './synth-support.js';

// The service stack and its nested stacks (the alarms live in the observability one).
const template = deployedTemplate(new OnceflowStack(testApp(), 'Costs'));
const counts = countStack(template);
const deploy = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

describe('stack costs', () => {
  it('counts every alarm of the template once, by kind', () => {
    const alarms = Object.values(template.Resources as Record<string, { Type: string }>).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm',
    );
    expect(counts.metricAlarms + counts.mathAlarms + counts.insightsAlarms).toBe(alarms.length);
    // Independently of the counter: one per catalogue alarm, one Lambda errors alarm per
    // function, a DLQ and a queue-age alarm per queue, a DLQ alarm and an iterator-age alarm per
    // stream-triggered function, one HTTP 5xx alarm.
    const queues = Object.keys(MANIFEST.queues).length;
    const streamConsumers = Object.values(MANIFEST.functions).filter(
      (f) => f.trigger.kind === 'stream',
    ).length;
    expect(alarms.length).toBe(
      METRICS.filter((m) => m.alarm).length +
        Object.keys(MANIFEST.functions).length +
        2 * queues +
        2 * streamConsumers +
        1,
    );
    expect(counts.insightsAlarms).toBe(METRICS.filter((m) => m.alarm).length);
    expect(Object.keys(PLATFORM_ALARMS)).toHaveLength(5);
  });

  it('counts every secret the functions may name', () => {
    expect(counts.secrets).toBe(Object.keys(SECRET_DESCRIPTIONS).length);
  });

  it("quotes the counted figures in the README's cost line", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8').replace(
      /\s+/g,
      ' ',
    );
    const summary = costSummary(counts);
    expect(readme).toContain(`${summary.alarms} alarms today, from ${dollars(summary.alarmsCost)}`);
    expect(readme).toContain(`${counts.secrets} secrets, ${dollars(summary.secretsCost)}`);
  });

  it("keeps docs/deploy.md's figures as counted from the template (npx onceflow docs)", () => {
    const begin = deploy.indexOf(COSTS_BEGIN);
    const end = deploy.indexOf(COSTS_END);
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(deploy.slice(begin + COSTS_BEGIN.length, end).trim()).toBe(renderCostTable(counts));
    expect(withCostTable(deploy, renderCostTable(counts))).toBe(deploy);
  });
});
