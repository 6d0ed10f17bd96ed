/**
 * The deployed stack's dashboard, alarms and alarm topic, generated from the metrics catalogue
 * (`lib/metrics-catalogue.ts`): a row per guarantee with every catalogue metric summed by source,
 * then the platform rows (DLQ depth per queue, Lambda errors/throttles/duration p99, DynamoDB
 * throttles). Alarms go to one SNS topic (KMS-encrypted, SSL only); an e-mail subscription is
 * added when the operator gives `onceflow:alarmEmail`.
 *
 * It is a nested stack of its own: one alarm per function, queue and dead-letter queue (83 with
 * the dashboard, topic, key and policy) pushed the service stack to 541 resources, over
 * CloudFormation's hard quota of 500 resources per stack
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 * Alarms only read the service's resources, so they move out whole; CDK passes each reference
 * (function, queue and table names, the API id) as a nested-stack parameter, capped at 200 by the
 * same quota page; `test/infra/stack-budget.test.ts` holds both counts to a budget.
 */
import { ArnFormat, Duration, NestedStack, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  alarmSeverity,
  GUARANTEES,
  type Guarantee,
  METRICS,
  type MetricSpec,
  PLATFORM_ALARMS,
  type PlatformAlarm,
} from '../metrics-catalogue.js';

export const METRICS_NAMESPACE = 'Onceflow';

export interface ObservabilityProps {
  readonly functions: Readonly<Record<string, IFunction>>;
  readonly queues: Readonly<Record<string, IQueue>>;
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  readonly tables: Readonly<Record<string, ITable>>;
  readonly httpApi: IHttpApi;
  readonly alarmEmail?: string;
  /** @default 1 */
  readonly http5xxPercent?: number;
  /** @default 900 */
  readonly staleQueueSeconds?: number;
  /**
   * A queue's own stale window where its messages wait on purpose (event deliveries held for their
   * retry backoff): overrides `staleQueueSeconds` for that queue.
   * @default {}
   */
  readonly staleQueueSecondsByQueue?: Readonly<Record<string, number>>;
  /**
   * The stream-triggered functions and how far (seconds) each may trail its stream: Lambda's own
   * `IteratorAge`, which Lambda reports whether or not the function succeeds — unlike the lag a
   * handler measures of the batches it did handle, which a stuck or never-invoked function never
   * emits (and an alarm treats missing data as OK).
   * @default {}
   */
  readonly streamIteratorAgeSeconds?: Readonly<Record<string, number>>;
}

/** The dashboard's widget titles carry the metric names, so tests can find each one. */
export function metricSearch(metric: MetricSpec, periodSeconds = 60): MathExpression {
  const schema = [METRICS_NAMESPACE, ...metric.dimensions].join(',');
  return new MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${metric.name}"', 'Sum', ${periodSeconds})`,
    label: metric.name,
    period: Duration.seconds(periodSeconds),
  });
}

/** The metric summed over every dimension value: a Metrics Insights query, which alarms accept. */
export function metricTotal(
  metric: MetricSpec,
  periodSeconds: number,
  statistic: 'SUM' | 'MAX' = 'SUM',
): MathExpression {
  const schema = [METRICS_NAMESPACE, ...metric.dimensions].join(', ');
  return new MathExpression({
    expression: `SELECT ${statistic}(${metric.name}) FROM SCHEMA(${schema})`,
    usingMetrics: {},
    label: `${metric.name} (all sources)`,
    period: Duration.seconds(periodSeconds),
  });
}

export class Observability extends NestedStack {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  /** Alarm by runbook name (catalogue metric or platform alarm, then `-<resource>`). */
  readonly alarms: Record<string, Alarm> = {};

  /** The service stack: alarm names carry its name, whatever stack holds the alarms. */
  private readonly service: Stack;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id, { description: 'onceflow alarms, dashboard and alarm topic' });
    this.service = Stack.of(scope);
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'onceflow alarm topic encryption',
      enableKeyRotation: true,
    });
    // CloudWatch alarms publish to an encrypted topic only when the key lets them.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: 'onceflow alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, so CloudWatch may publish only if a statement
    // says so: its service principal, for alarms of this account whose names start with this
    // stack's name (confused-deputy guard). Without it every notification is refused ("no
    // resource-based policy allows the SNS:Publish action").
    // https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
    const stack = this.service;
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisStack',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': this.account },
          ArnLike: {
            'aws:SourceArn': this.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${stack.stackName}-*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.topic);

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    for (const [guarantee, title] of Object.entries(GUARANTEES) as Array<[Guarantee, string]>) {
      const metrics = METRICS.filter((m) => m.guarantee === guarantee);
      if (metrics.length === 0) continue;
      this.dashboard.addWidgets(
        new TextWidget({ markdown: `### ${title}`, width: 24, height: 1 }),
        ...metrics.map(
          (m) =>
            new GraphWidget({
              title: m.name,
              left: [metricSearch(m)],
              width: Math.max(4, Math.floor(24 / metrics.length)),
              height: 5,
            }),
        ),
      );
    }

    // Catalogue alarms: each on the metric's total over its period.
    for (const metric of METRICS) {
      if (!metric.alarm) continue;
      this.alarms[metric.name] = new Alarm(this, `${metric.name}Alarm`, {
        alarmName: `${this.service.stackName}-${metric.name}`,
        alarmDescription: `[${alarmSeverity(metric.alarm)}] ${metric.alarm.summary}. Runbook: docs/runbook.md#${metric.name.toLowerCase()}`,
        metric: metricTotal(metric, metric.alarm.periodSeconds, metric.alarm.statistic),
        threshold: metric.alarm.greaterThan,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    }

    // Dead-letter queues: any message is an alarm.
    const dlqDepth = entriesOf(props.deadLetterQueues).map(([name, dlq]) => {
      const depth = dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
        label: `${name} DLQ`,
      });
      this.platformAlarm('DeadLetterMessages', name, depth, 0);
      return depth;
    });
    // Stale work: the oldest message of a work queue older than its window.
    const queueAge = entriesOf(props.queues).map(([name, queue]) => {
      const age = queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
        label: `${name} oldest (s)`,
      });
      const window = props.staleQueueSecondsByQueue?.[name] ?? props.staleQueueSeconds ?? 900;
      this.platformAlarm('StaleQueueWork', name, age, window);
      return age;
    });
    // HTTP 5xx rate over 5 minutes.
    const apiDimensions = { ApiId: props.httpApi.apiId, Stage: '$default' };
    const apiMetric = (metricName: string) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: apiDimensions,
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    const rate5xx = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors: apiMetric('5xx'), requests: apiMetric('Count') },
      label: 'HTTP 5xx %',
      period: Duration.minutes(5),
    });
    this.platformAlarm('Http5xxRate', 'api', rate5xx, props.http5xxPercent ?? 1);
    // Stream-triggered functions: how far each trails its stream, as Lambda measures it.
    for (const [name, seconds] of Object.entries(props.streamIteratorAgeSeconds ?? {})) {
      const fn = props.functions[name];
      if (!fn) throw new Error(`streamIteratorAgeSeconds names ${name}, which is not a function`);
      const age = fn.metric('IteratorAge', {
        period: Duration.minutes(5),
        statistic: 'Maximum',
        label: `${name} iterator age (ms)`,
      });
      this.platformAlarm('StreamIteratorAge', name, age, seconds * 1000);
    }
    // Lambda errors, per function.
    const fnEntries = entriesOf(props.functions);
    for (const [name, fn] of fnEntries) {
      this.platformAlarm(
        'LambdaErrors',
        name,
        fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        0,
      );
    }

    this.dashboard.addWidgets(
      new TextWidget({ markdown: '### Queues, functions, tables', width: 24, height: 1 }),
      new GraphWidget({ title: 'DLQ depth per queue', left: dlqDepth, width: 8 }),
      new GraphWidget({ title: 'Oldest message per queue (s)', left: queueAge, width: 8 }),
      new GraphWidget({ title: 'HTTP 5xx %', left: [rate5xx], width: 8 }),
    );
    const chunks = chunk(fnEntries, 8);
    for (const part of chunks) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Lambda errors',
          left: part.map(([name, fn]) => fn.metricErrors({ label: name })),
          width: 8,
        }),
        new GraphWidget({
          title: 'Lambda throttles',
          left: part.map(([name, fn]) => fn.metricThrottles({ label: name })),
          width: 8,
        }),
        new GraphWidget({
          title: 'Lambda duration p99',
          left: part.map(([name, fn]) => fn.metricDuration({ label: name, statistic: 'p99' })),
          width: 8,
        }),
      );
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'DynamoDB throttled requests',
        left: entriesOf(props.tables).flatMap(([name, table]) => [
          table.metric('ThrottledRequests', { statistic: 'Sum', label: `${name}` }),
        ]),
        width: 12,
      }),
      new GraphWidget({
        title: 'DynamoDB read/write throttle events',
        left: entriesOf(props.tables).flatMap(([name, table]) => [
          table.metric('WriteThrottleEvents', { statistic: 'Sum', label: `${name} writes` }),
          table.metric('ReadThrottleEvents', { statistic: 'Sum', label: `${name} reads` }),
        ]),
        width: 12,
      }),
    );
    for (const alarm of Object.values(this.alarms)) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }

  private platformAlarm(kind: PlatformAlarm, resource: string, metric: IMetric, above: number) {
    const name = `${kind}-${resource}`;
    this.alarms[name] = new Alarm(this, `${kind}${pascal(resource)}Alarm`, {
      alarmName: `${this.service.stackName}-${name}`,
      alarmDescription: `[page] ${PLATFORM_ALARMS[kind]} (${resource}). Runbook: docs/runbook.md#${kind.toLowerCase()}`,
      metric,
      threshold: above,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}

function entriesOf<V>(record: Readonly<Record<string, V>>): Array<[string, V]> {
  return Object.entries(record);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
