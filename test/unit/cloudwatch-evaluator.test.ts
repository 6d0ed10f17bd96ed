/**
 * The CloudWatch rules the alarm proof (test/integration/whole-service/alarms.test.ts) evaluates with, each shown
 * on a case that would pass a looser rule: an EMF line publishes under every dimension set it
 * lists; `SCHEMA(ns, a, b)` and `{ns,a,b}` see only metrics with exactly that dimension set; an
 * alarm sums one period at a time and compares strictly.
 */
import { describe, expect, it } from 'vitest';
import {
  type Datapoint,
  dashboardSelectors,
  evaluateAlarm,
  parseEmf,
  parseInsightsQuery,
  parseSearchExpression,
  selects,
  type TemplateAlarm,
} from '../support/cloudwatch.js';

const T0 = Date.parse('2026-12-01T00:00:00.000Z');

function emf(metrics: Record<string, number>, dimensions: string[][], values: object, at = T0) {
  return JSON.stringify({
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [
        {
          Namespace: 'Onceflow',
          Dimensions: dimensions,
          Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: 'Count' })),
        },
      ],
    },
    ...values,
    ...metrics,
  });
}

function point(dimensions: Record<string, string>, value = 1, timestamp = T0): Datapoint {
  return { namespace: 'Onceflow', name: 'ConversionsReconciled', dimensions, value, timestamp };
}

function insightsAlarm(sql: string, periodSeconds = 3600, threshold = 0): TemplateAlarm {
  const { statistic, selector } = parseInsightsQuery(sql);
  return {
    logicalId: 'A',
    name: 'A',
    statistic,
    periodSeconds,
    threshold,
    comparison: 'GreaterThanThreshold',
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    selectors: [selector],
  };
}

describe('EMF', () => {
  it('publishes each metric under each dimension set, with the values of the root members', () => {
    const line = emf({ A: 2, B: 1 }, [['service', 'source'], ['service']], {
      service: 'onceflow',
      source: 'queue:jobs',
    });
    const points = parseEmf(line);
    expect(points).toHaveLength(4);
    expect(points).toContainEqual(
      expect.objectContaining({
        name: 'A',
        value: 2,
        dimensions: { service: 'onceflow', source: 'queue:jobs' },
      }),
    );
    expect(points).toContainEqual(
      expect.objectContaining({ name: 'B', value: 1, dimensions: { service: 'onceflow' } }),
    );
    expect(parseEmf('{"level":"INFO","message":"not a metric"}')).toEqual([]);
    expect(parseEmf('not json')).toEqual([]);
  });
});

describe('SCHEMA and search schemas match one exact dimension set', () => {
  const bySource = parseInsightsQuery(
    'SELECT SUM(ConversionsReconciled) FROM SCHEMA(Onceflow, service, source)',
  ).selector;
  const byType = parseInsightsQuery(
    'SELECT SUM(ConversionsReconciled) FROM SCHEMA("Onceflow", source, type, service)',
  ).selector;
  const anyDims = parseInsightsQuery('SELECT SUM(ConversionsReconciled) FROM Onceflow').selector;
  const noDims = parseInsightsQuery(
    'SELECT SUM(ConversionsReconciled) FROM SCHEMA(Onceflow)',
  ).selector;

  it('a metric with one more dimension is not seen by the smaller schema', () => {
    const withType = point({ service: 'onceflow', source: 'reconciliation', type: 'signed' });
    expect(selects(bySource, withType)).toBe(false);
    expect(selects(byType, withType)).toBe(true); // order does not matter
    expect(selects(anyDims, withType)).toBe(true);
    expect(selects(noDims, withType)).toBe(false);
  });

  it('a metric with one dimension fewer is not seen either', () => {
    const serviceOnly = point({ service: 'onceflow' });
    expect(selects(bySource, serviceOnly)).toBe(false);
    expect(selects(noDims, point({}))).toBe(true);
  });

  it('reads the search expressions of the dashboard the same way', () => {
    const search = parseSearchExpression(
      `SEARCH('{Onceflow,service,source} MetricName="ConversionsReconciled"', 'Sum', 60)`,
    );
    expect(search).toEqual({
      namespace: 'Onceflow',
      name: 'ConversionsReconciled',
      schema: ['service', 'source'],
    });
    expect(selects(search, point({ service: 'onceflow', source: 's', type: 't' }))).toBe(false);
    expect(selects(search, point({ service: 'onceflow', source: 's' }))).toBe(true);
  });

  it("finds a dashboard's search expressions and metric stats inside the template's Fn::Join", () => {
    const body = {
      'Fn::Join': [
        '',
        [
          '{"widgets":[{"properties":{"region":"',
          { Ref: 'AWS::Region' },
          `","metrics":[[{"expression":"SEARCH('{Onceflow,service,source} MetricName=\\"X\\"', 'Sum', 60)"}],["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","`,
          { 'Fn::GetAtt': ['Q', 'QueueName'] },
          '",{"label":"q"}]]}}]}',
        ],
      ],
    };
    expect(dashboardSelectors(body)).toEqual([
      { namespace: 'Onceflow', name: 'X', schema: ['service', 'source'] },
      { namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible', schema: ['QueueName'] },
    ]);
  });
});

describe('alarm evaluation', () => {
  const alarm = insightsAlarm(
    'SELECT SUM(ConversionsReconciled) FROM SCHEMA(Onceflow, service, source)',
    3600,
  );
  const dims = { service: 'onceflow', source: 'schedule:reconcileConversions' };

  it('fires on one matching datapoint above a threshold of 0', () => {
    const result = evaluateAlarm(alarm, [point(dims)]);
    expect(result.fires).toBe(true);
    expect(result.periods).toEqual([{ start: T0, value: 1 }]);
  });

  it('stays OK when the only datapoints carry another dimension set', () => {
    const result = evaluateAlarm(alarm, [point({ ...dims, type: 'signed' }, 5)]);
    expect(result.matched).toEqual([]);
    expect(result.fires).toBe(false);
  });

  it('stays OK at the threshold itself (greater than, not equal)', () => {
    expect(evaluateAlarm(alarm, [point(dims, 0)]).fires).toBe(false);
    const atTwo = insightsAlarm(
      'SELECT SUM(ConversionsReconciled) FROM SCHEMA(Onceflow, service, source)',
      3600,
      2,
    );
    expect(evaluateAlarm(atTwo, [point(dims, 1), point(dims, 1)]).fires).toBe(false);
    expect(evaluateAlarm(atTwo, [point(dims, 1), point(dims, 2)]).fires).toBe(true);
  });

  it('sums one period at a time: two datapoints an hour apart are two periods of 1', () => {
    const atOne = insightsAlarm(
      'SELECT SUM(ConversionsReconciled) FROM SCHEMA(Onceflow, service, source)',
      3600,
      1,
    );
    const apart = [point(dims, 1, T0), point(dims, 1, T0 + 3600_000)];
    expect(evaluateAlarm(atOne, apart).periods.map((p) => p.value)).toEqual([1, 1]);
    expect(evaluateAlarm(atOne, apart).fires).toBe(false);
  });

  it('evaluates a math expression over metric stats (the 5xx rate)', () => {
    const rate: TemplateAlarm = {
      logicalId: 'R',
      name: 'R',
      statistic: 'SUM',
      periodSeconds: 300,
      threshold: 1,
      comparison: 'GreaterThanThreshold',
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      selectors: [
        { namespace: 'AWS/ApiGateway', name: '5xx', schema: ['ApiId', 'Stage'] },
        { namespace: 'AWS/ApiGateway', name: 'Count', schema: ['ApiId', 'Stage'] },
      ],
      expression: {
        text: 'IF(requests > 0, 100 * errors / requests, 0)',
        ids: ['errors', 'requests'],
      },
    };
    const api = { ApiId: 'a', Stage: '$default' };
    const at = (name: string, value: number): Datapoint => ({
      namespace: 'AWS/ApiGateway',
      name,
      dimensions: api,
      value,
      timestamp: T0,
    });
    expect(evaluateAlarm(rate, [at('5xx', 1), at('Count', 200)]).fires).toBe(false); // 0.5 %
    expect(evaluateAlarm(rate, [at('5xx', 3), at('Count', 200)]).fires).toBe(true); // 1.5 %
  });
});
