/**
 * What CloudWatch would do with the EMF lines our handlers print and the alarms and dashboard the
 * stack declares, reproduced for tests, by the documented rules:
 *
 * - EMF (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 *   each `_aws.CloudWatchMetrics` directive publishes every metric it names under every dimension
 *   set it lists; a metric's value and each dimension's value are root members of the line.
 * - Metrics Insights `FROM SCHEMA(ns, d1, d2)` matches only metrics whose dimension set is exactly
 *   {d1, d2} (order does not matter); `SCHEMA(ns)` only metrics with no dimension; `FROM ns` every
 *   metric of the namespace
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html).
 * - A search expression's schema `{ns,d1,d2}` likewise names one exact dimension set
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html:
 *   `{AWS/EC2,InstanceType}` graphs the per-type metrics, not the per-instance ones).
 * - An alarm aggregates the datapoints of each period with its statistic and compares the result
 *   with its threshold (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).
 */

/** One value CloudWatch would extract from an EMF line. */
export interface Datapoint {
  readonly namespace: string;
  readonly name: string;
  /** The dimension set this value is published under, with its values. */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly unit?: string;
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: readonly (readonly string[])[];
  readonly Metrics: ReadonlyArray<{ readonly Name: string; readonly Unit?: string }>;
}

/** The datapoints of one stdout line; an empty list for a line that is not EMF. */
export function parseEmf(line: string): Datapoint[] {
  let root: Record<string, unknown>;
  try {
    root = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return [];
  }
  const aws = root?._aws as
    | { Timestamp?: number; CloudWatchMetrics?: readonly EmfDirective[] }
    | undefined;
  if (!aws?.CloudWatchMetrics) return [];
  const timestamp = Number(aws.Timestamp);
  const out: Datapoint[] = [];
  for (const directive of aws.CloudWatchMetrics) {
    for (const metric of directive.Metrics) {
      const raw = root[metric.Name];
      const values = (Array.isArray(raw) ? raw : [raw]).filter(
        (v): v is number => typeof v === 'number',
      );
      for (const set of directive.Dimensions) {
        const dimensions: Record<string, string> = {};
        for (const key of set) dimensions[key] = String(root[key]);
        for (const value of values) {
          out.push({
            namespace: directive.Namespace,
            name: metric.Name,
            dimensions,
            value,
            timestamp,
            ...(metric.Unit ? { unit: metric.Unit } : {}),
          });
        }
      }
    }
  }
  return out;
}

/** Every datapoint in a chunk of stdout (one JSON document per line). */
export function datapointsOf(stdout: string): Datapoint[] {
  return stdout.split('\n').flatMap((line) => (line.includes('"_aws"') ? parseEmf(line) : []));
}

/** The dimension set of a datapoint as a sorted, comparable key. */
export function dimensionSet(dimensions: Readonly<Record<string, string>> | readonly string[]) {
  const names = Array.isArray(dimensions) ? [...dimensions] : Object.keys(dimensions);
  return names.sort().join(',');
}

/** Which metrics a query selects: a namespace, a metric name and, for a schema, one dimension set. */
export interface MetricSelector {
  readonly namespace: string;
  readonly name: string;
  /** Dimension names of a schema (exact set); undefined selects every dimension set. */
  readonly schema?: readonly string[];
  /** Dimension values a metric stat or a WHERE clause pins. */
  readonly equals?: Readonly<Record<string, unknown>>;
}

export function selects(selector: MetricSelector, point: Datapoint): boolean {
  if (point.namespace !== selector.namespace || point.name !== selector.name) return false;
  if (selector.schema && dimensionSet(selector.schema) !== dimensionSet(point.dimensions)) {
    return false;
  }
  for (const [key, value] of Object.entries(selector.equals ?? {})) {
    if (point.dimensions[key] !== value) return false;
  }
  return true;
}

/** `SELECT FUNC(Metric) FROM SCHEMA(ns, d1, ...)` or `FROM ns`, as an alarm's Metrics Insights query. */
export function parseInsightsQuery(sql: string): { statistic: string; selector: MetricSelector } {
  const match =
    /^\s*SELECT\s+(AVG|COUNT|MAX|MIN|SUM)\(\s*([^)\s]+)\s*\)\s+FROM\s+(SCHEMA\(([^)]*)\)|("?)([^\s"]+)\5)\s*$/i.exec(
      sql,
    );
  if (!match) throw new Error(`not a Metrics Insights query this evaluator reads: ${sql}`);
  const statistic = (match[1] ?? '').toUpperCase();
  const name = unquote(match[2] ?? '');
  if (match[4] !== undefined) {
    const [namespace = '', ...schema] = match[4].split(',').map((p) => unquote(p.trim()));
    return { statistic, selector: { namespace, name, schema } };
  }
  return { statistic, selector: { namespace: match[6] ?? '', name } };
}

/** `SEARCH('{ns,d1,d2} MetricName="X"', 'Sum', 60)`, as the dashboard's widgets declare it. */
export function parseSearchExpression(expression: string): MetricSelector {
  const match = /SEARCH\(\s*'\s*\{([^}]*)\}\s*MetricName\s*=\s*"([^"]+)"\s*'/.exec(expression);
  if (!match) throw new Error(`not a search expression this evaluator reads: ${expression}`);
  const [namespace = '', ...schema] = (match[1] ?? '').split(',').map((p) => unquote(p.trim()));
  return { namespace, name: match[2] ?? '', schema };
}

function unquote(text: string): string {
  return text.replace(/^"(.*)"$/, '$1');
}

/** An alarm of the template, reduced to what decides whether it fires. */
export interface TemplateAlarm {
  readonly logicalId: string;
  readonly name: string;
  readonly statistic: string;
  readonly periodSeconds: number;
  readonly threshold: number;
  readonly comparison: string;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  /** The metrics the alarm reads; a math expression over several metrics names them all. */
  readonly selectors: readonly MetricSelector[];
  /** A math expression over `selectors` (by id), when the alarm watches one. */
  readonly expression?: { readonly text: string; readonly ids: readonly string[] };
}

type Resource = { Type: string; Properties?: Record<string, unknown> };

interface MetricStat {
  Metric: {
    Namespace: string;
    MetricName: string;
    Dimensions?: Array<{ Name: string; Value: unknown }>;
  };
  Period: number;
  Stat: string;
}

/** Every `AWS::CloudWatch::Alarm` of a synthesized template. */
export function alarmsOf(template: { Resources: Record<string, Resource> }): TemplateAlarm[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
    .map(([logicalId, r]) => {
      const p = r.Properties ?? {};
      const common = {
        logicalId,
        name: typeof p.AlarmName === 'string' ? p.AlarmName : logicalId,
        threshold: Number(p.Threshold),
        comparison: String(p.ComparisonOperator),
        evaluationPeriods: Number(p.EvaluationPeriods),
        datapointsToAlarm: Number(p.DatapointsToAlarm ?? p.EvaluationPeriods),
      };
      if (typeof p.MetricName === 'string') {
        return {
          ...common,
          statistic: String(p.Statistic).toUpperCase(),
          periodSeconds: Number(p.Period),
          selectors: [
            {
              namespace: String(p.Namespace),
              name: p.MetricName,
              schema: ((p.Dimensions as Array<{ Name: string }>) ?? []).map((d) => d.Name),
              equals: Object.fromEntries(
                ((p.Dimensions as Array<{ Name: string; Value: unknown }>) ?? []).map((d) => [
                  d.Name,
                  d.Value,
                ]),
              ),
            },
          ],
        };
      }
      const queries = p.Metrics as Array<{
        Id: string;
        Expression?: string;
        MetricStat?: MetricStat;
        Period?: number;
        ReturnData?: boolean;
      }>;
      const returned = queries.find((q) => q.ReturnData !== false);
      if (!returned) throw new Error(`${logicalId}: no query returns data`);
      if (returned.MetricStat) {
        const { Metric, Period, Stat } = returned.MetricStat;
        return {
          ...common,
          statistic: Stat.toUpperCase(),
          periodSeconds: Number(Period),
          selectors: [
            {
              namespace: Metric.Namespace,
              name: Metric.MetricName,
              schema: (Metric.Dimensions ?? []).map((d) => d.Name),
              equals: Object.fromEntries((Metric.Dimensions ?? []).map((d) => [d.Name, d.Value])),
            },
          ],
        };
      }
      if (!returned.Expression) throw new Error(`${logicalId}: no expression returns data`);
      if (/^\s*SELECT/i.test(returned.Expression)) {
        const { statistic, selector } = parseInsightsQuery(returned.Expression);
        return {
          ...common,
          statistic,
          periodSeconds: Number(returned.Period),
          selectors: [selector],
        };
      }
      const stats = queries.filter((q) => q.MetricStat);
      return {
        ...common,
        statistic: String(stats[0]?.MetricStat?.Stat).toUpperCase(),
        periodSeconds: Number(stats[0]?.MetricStat?.Period),
        selectors: stats.map((q) => {
          const metric = (q.MetricStat as MetricStat).Metric;
          return {
            namespace: metric.Namespace,
            name: metric.MetricName,
            schema: (metric.Dimensions ?? []).map((d) => d.Name),
            equals: Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, d.Value])),
          };
        }),
        expression: { text: returned.Expression, ids: stats.map((q) => q.Id) },
      };
    });
}

function aggregate(statistic: string, values: readonly number[]): number {
  switch (statistic) {
    case 'SUM':
      return values.reduce((a, b) => a + b, 0);
    case 'MAX':
    case 'MAXIMUM':
      return Math.max(...values);
    case 'MIN':
    case 'MINIMUM':
      return Math.min(...values);
    case 'AVG':
    case 'AVERAGE':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'COUNT':
    case 'SAMPLECOUNT':
      return values.length;
    default:
      throw new Error(`statistic ${statistic} is not evaluated here`);
  }
}

function breaches(comparison: string, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
    default:
      throw new Error(`comparison ${comparison} is not evaluated here`);
  }
}

/**
 * `IF(a > 0, 100 * b / a, 0)`-style math over the alarm's metric ids: only the operators our
 * alarms use (IF, comparisons, + - * /), evaluated with each id bound to its period value.
 */
function evaluateMath(text: string, values: Readonly<Record<string, number>>): number {
  const js = text
    .replace(/\bIF\(/g, '__if(')
    .replace(/\b([a-z][A-Za-z0-9_]*)\b/g, (id) => (id === '__if' ? id : `v.${id}`));
  // Test-only: the expression comes from our own synthesized template, never from input.
  const fn = new Function('v', '__if', `return (${js});`) as (
    v: Readonly<Record<string, number>>,
    f: (c: boolean, a: number, b: number) => number,
  ) => number;
  return fn(values, (c, a, b) => (c ? a : b));
}

export interface AlarmEvaluation {
  /** The datapoints the alarm's query selected. */
  readonly matched: readonly Datapoint[];
  /** The value of each period that had data (period start → value). */
  readonly periods: ReadonlyArray<{ readonly start: number; readonly value: number }>;
  /** At least `datapointsToAlarm` periods breach: the alarm goes to ALARM. */
  readonly fires: boolean;
}

/** Evaluates an alarm over datapoints, each period aligned to the epoch as CloudWatch does. */
export function evaluateAlarm(alarm: TemplateAlarm, points: readonly Datapoint[]): AlarmEvaluation {
  const periodMs = alarm.periodSeconds * 1000;
  const perSelector = alarm.selectors.map((s) => points.filter((p) => selects(s, p)));
  const matched = perSelector.flat();
  const starts = [...new Set(matched.map((p) => Math.floor(p.timestamp / periodMs) * periodMs))];
  const periods = starts.sort().map((start) => {
    const inPeriod = perSelector.map((list) =>
      list
        .filter((p) => p.timestamp >= start && p.timestamp < start + periodMs)
        .map((p) => p.value),
    );
    if (!alarm.expression) {
      return { start, value: aggregate(alarm.statistic, inPeriod[0] ?? []) };
    }
    const bound = Object.fromEntries(
      alarm.expression.ids.map((id, i) => {
        const values = inPeriod[i] ?? [];
        return [id, values.length > 0 ? aggregate(alarm.statistic, values) : 0];
      }),
    );
    return { start, value: evaluateMath(alarm.expression.text, bound) };
  });
  const breaching = periods.filter((p) => breaches(alarm.comparison, p.value, alarm.threshold));
  return { matched, periods, fires: breaching.length >= alarm.datapointsToAlarm };
}

/**
 * The metric selectors of a dashboard's graphs: every search expression, and every metric stat
 * (`[ns, name, dim, value, ...]`). Tokens of the template body (region, ids) become `{token}`.
 */
export function dashboardSelectors(body: unknown): MetricSelector[] {
  const text =
    typeof body === 'string'
      ? body
      : ((body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? [])
          .map((part) => (typeof part === 'string' ? part : 'token'))
          .join('');
  const dashboard = JSON.parse(text) as {
    widgets: Array<{ properties?: { metrics?: unknown[][] } }>;
  };
  const out: MetricSelector[] = [];
  for (const widget of dashboard.widgets) {
    for (const row of widget.properties?.metrics ?? []) {
      const head = row[0];
      if (head && typeof head === 'object' && 'expression' in head) {
        const expression = String((head as { expression: string }).expression);
        if (expression.startsWith('SEARCH(')) out.push(parseSearchExpression(expression));
        continue;
      }
      const parts = row.filter((x) => typeof x === 'string') as string[];
      const [namespace = '', name = '', ...dims] = parts;
      const schema = dims.filter((_, i) => i % 2 === 0);
      out.push({ namespace, name, schema });
    }
  }
  return out;
}
