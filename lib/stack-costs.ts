/**
 * What the stack costs at rest in alarms, secrets, keys and dashboards, counted from a synthesized
 * template (never by hand): `docs/deploy.md` holds the table between the markers below, written by
 * `npx onceflow docs` and checked by `test/infra/stack-costs.test.ts`.
 *
 * us-east-1 list prices (https://aws.amazon.com/cloudwatch/pricing/,
 * https://aws.amazon.com/secrets-manager/pricing/, https://aws.amazon.com/kms/pricing/): an alarm
 * costs $0.10 a month per metric it reads (a metric-math alarm reads each metric it lists; a
 * Metrics Insights alarm each time series its query aggregates, here one per `source` that emits
 * the metric, so its figure is a floor), the first 10 metrics of alarms that list their metrics are
 * free; a secret $0.40 a month; a customer managed KMS key $1 a month; a dashboard $3 a month
 * beyond the account's first three.
 */

import { NestedStack, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

export const COSTS_BEGIN = '<!-- stack-costs:begin (generated: npx onceflow docs) -->';
export const COSTS_END = '<!-- stack-costs:end -->';

export const PRICES = {
  alarmMetric: 0.1,
  freeAlarmMetrics: 10,
  secret: 0.4,
  kmsKey: 1,
  dashboard: 3,
} as const;

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

export interface StackCounts {
  /** Alarms that read one metric by name (`MetricName`, or one `MetricStat`). */
  readonly metricAlarms: number;
  /** Alarms on a math expression, and the metrics they list together. */
  readonly mathAlarms: number;
  readonly mathAlarmMetrics: number;
  /** Alarms on a Metrics Insights query (billed per time series the query aggregates). */
  readonly insightsAlarms: number;
  readonly secrets: number;
  readonly kmsKeys: number;
  readonly dashboards: number;
}

/**
 * The resources of a stack and of every stack nested in it (the alarms, dashboard and alarm topic
 * live in the observability nested stack), as one template for `countStack`. Keys are prefixed by
 * the stack's path: logical ids are unique only within their own template.
 */
export function deployedTemplate(stack: Stack): { Resources: Resources } {
  const stacks = [stack, ...stack.node.findAll().filter((c) => NestedStack.isNestedStack(c))];
  const Resources: Resources = {};
  for (const s of stacks as Stack[]) {
    const template = Template.fromStack(s).toJSON() as { Resources?: Resources };
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      Resources[`${s.node.path}/${id}`] = resource;
    }
  }
  return { Resources };
}

export function countStack(template: { readonly [key: string]: unknown }): StackCounts {
  const all = Object.values((template.Resources ?? {}) as Resources);
  const alarms = all.filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
  let metricAlarms = 0;
  let mathAlarms = 0;
  let mathAlarmMetrics = 0;
  let insightsAlarms = 0;
  for (const alarm of alarms) {
    const queries = alarm.Properties?.Metrics as
      | Array<{ Expression?: string; MetricStat?: unknown }>
      | undefined;
    if (!queries) {
      metricAlarms += 1;
      continue;
    }
    if (queries.some((q) => /^\s*SELECT/i.test(q.Expression ?? ''))) {
      insightsAlarms += 1;
    } else if (queries.some((q) => q.Expression)) {
      mathAlarms += 1;
      mathAlarmMetrics += queries.filter((q) => q.MetricStat).length;
    } else {
      metricAlarms += 1;
    }
  }
  const count = (type: string) => all.filter((r) => r.Type === type).length;
  return {
    metricAlarms,
    mathAlarms,
    mathAlarmMetrics,
    insightsAlarms,
    secrets: count('AWS::SecretsManager::Secret'),
    kmsKeys: count('AWS::KMS::Key'),
    dashboards: count('AWS::CloudWatch::Dashboard'),
  };
}

export const dollars = (n: number) => `$${n.toFixed(2)}`;

/** The headline figures (the README quotes them; `test/infra/stack-costs.test.ts` checks it). */
export function costSummary(counts: StackCounts) {
  const alarms = counts.metricAlarms + counts.mathAlarms + counts.insightsAlarms;
  const listedMetrics = counts.metricAlarms + counts.mathAlarmMetrics;
  const listedCost = Math.max(0, listedMetrics - PRICES.freeAlarmMetrics) * PRICES.alarmMetric;
  const insightsCost = counts.insightsAlarms * PRICES.alarmMetric;
  const secretsCost = counts.secrets * PRICES.secret;
  const keysCost = counts.kmsKeys * PRICES.kmsKey;
  const dashboardsCost = counts.dashboards * PRICES.dashboard;
  return {
    alarms,
    listedMetrics,
    listedCost,
    insightsCost,
    alarmsCost: listedCost + insightsCost,
    secretsCost,
    keysCost,
    dashboardsCost,
    total: listedCost + insightsCost + secretsCost + keysCost + dashboardsCost,
  };
}

/** The markdown table `docs/deploy.md` shows between `COSTS_BEGIN` and `COSTS_END`. */
export function renderCostTable(counts: StackCounts): string {
  const {
    alarms,
    listedMetrics,
    listedCost,
    insightsCost,
    secretsCost,
    keysCost,
    dashboardsCost,
    total,
  } = costSummary(counts);
  return [
    '| what | count | per month |',
    '| --- | --- | --- |',
    `| alarms on a metric (per function, DLQ, queue age) | ${counts.metricAlarms} | ${counts.metricAlarms} metrics |`,
    `| alarms on metric math (HTTP 5xx rate) | ${counts.mathAlarms} | ${counts.mathAlarmMetrics} metrics |`,
    `| alarms that list their metrics, together | ${counts.metricAlarms + counts.mathAlarms} | ${dollars(listedCost)} (${listedMetrics} metrics, ${PRICES.freeAlarmMetrics} free) |`,
    `| alarms on a Metrics Insights query (catalogue) | ${counts.insightsAlarms} | from ${dollars(insightsCost)} (one metric per source emitting it) |`,
    `| **alarms in all** | **${alarms}** | **from ${dollars(listedCost + insightsCost)}** |`,
    `| Secrets Manager secrets | ${counts.secrets} | ${dollars(secretsCost)} |`,
    `| KMS customer managed keys (alarm topic) | ${counts.kmsKeys} | ${dollars(keysCost)} |`,
    `| CloudWatch dashboards | ${counts.dashboards} | ${dollars(dashboardsCost)} (free if among the account's first 3) |`,
    `| **at rest, in all** | | **from ${dollars(total)}** |`,
  ].join('\n');
}

/** `text` with the generated table between the markers replaced by `table`. */
export function withCostTable(text: string, table: string): string {
  const begin = text.indexOf(COSTS_BEGIN);
  const end = text.indexOf(COSTS_END);
  if (begin < 0 || end < begin) throw new Error('the stack-costs markers are missing');
  return `${text.slice(0, begin + COSTS_BEGIN.length)}\n${table}\n${text.slice(end)}`;
}
