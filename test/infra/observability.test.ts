/**
 * The dashboard and alarms are generated from the metrics catalogue: every catalogue metric has a
 * dashboard widget, every catalogue alarm and platform alarm exists and notifies the alarm topic,
 * the topic is encrypted and SSL-only, an e-mail subscription appears only with the context value,
 * and the operational limits come from context.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { METRICS, PLATFORM_ALARMS } from '../../lib/metrics-catalogue.js';
import { OnceflowStack } from '../../lib/onceflow-stack.js';
import { CONTEXT_KEYS, DEFAULT_LIMITS, limitsFromContext } from '../../lib/operational-limits.js';
import { CDK_CONTEXT, QUEUE_NAMES, testApp } from './synth-support.js';

/** `template` is the service stack's; `observed` the observability nested stack's (alarms, topic). */
function synth(context: Record<string, unknown> = {}): {
  template: Template;
  observed: Template;
  stack: OnceflowStack;
} {
  const app = testApp();
  for (const [key, value] of Object.entries(context)) app.node.setContext(key, value);
  const stack = new OnceflowStack(app, 'Obs', { limits: limitsFromContext(app.node) });
  return {
    template: Template.fromStack(stack),
    observed: Template.fromStack(stack.observability),
    stack,
  };
}

const { template, observed, stack } = synth();
const dashboardBody = JSON.stringify(
  Object.values(observed.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties?.DashboardBody,
);
const alarms = Object.values(observed.findResources('AWS::CloudWatch::Alarm')) as Array<{
  Properties: Record<string, unknown>;
}>;
const alarmNames = alarms.map((a) => JSON.stringify(a.Properties.AlarmName));

describe('observability nested stack', () => {
  // CloudFormation's 500 resources per stack: the alarms, dashboard and topic live apart.
  it('holds every alarm and the dashboard; the service stack none, but the topic ARN output', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    template.resourceCountIs('AWS::CloudFormation::Stack', 1);
    expect(alarms.length).toBeGreaterThan(0);
    template.hasOutput('AlarmTopicArn', { Value: Match.anyValue() });
  });
});

describe('dashboard from the catalogue', () => {
  it('has one dashboard', () => {
    observed.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it.each(METRICS.map((m) => m.name))('shows %s, summed over its sources', (name) => {
    expect(dashboardBody).toContain(`MetricName=\\\\\\"${name}\\\\\\"`);
  });

  it('shows DLQ depth per queue, Lambda errors/throttles/p99 and DynamoDB throttles', () => {
    for (const title of [
      'DLQ depth per queue',
      'Lambda errors',
      'Lambda throttles',
      'Lambda duration p99',
      'DynamoDB throttled requests',
    ]) {
      expect(dashboardBody).toContain(title);
    }
    expect(dashboardBody).toContain('ApproximateNumberOfMessagesVisible');
    expect(dashboardBody).toContain('p99');
  });
});

describe('alarms from the catalogue', () => {
  it.each(METRICS.filter((m) => m.alarm).map((m) => m))(
    '$name alarms when its total is above $alarm.greaterThan',
    (metric) => {
      const alarm = alarms.find((a) =>
        JSON.stringify(a.Properties.AlarmName).includes(`-${metric.name}"`),
      );
      expect(alarm, `alarm for ${metric.name}`).toBeDefined();
      expect(alarm?.Properties.Threshold).toBe(metric.alarm?.greaterThan);
      expect(alarm?.Properties.ComparisonOperator).toBe('GreaterThanThreshold');
      expect(JSON.stringify(alarm?.Properties.Metrics)).toContain(
        `${metric.alarm?.statistic ?? 'SUM'}(${metric.name})`,
      );
    },
  );

  it('has an alarm on every dead-letter queue (any message) and on stale work per queue', () => {
    for (const queue of QUEUE_NAMES) {
      expect(alarmNames.some((n) => n.includes(`DeadLetterMessages-${queue}`))).toBe(true);
      expect(alarmNames.some((n) => n.includes(`StaleQueueWork-${queue}`))).toBe(true);
    }
    const dlqAlarms = alarms.filter((a) =>
      JSON.stringify(a.Properties.AlarmName).includes('DeadLetterMessages'),
    );
    for (const alarm of dlqAlarms) expect(alarm.Properties.Threshold).toBe(0);
  });

  it('has a Lambda errors alarm per function and a 5xx rate alarm', () => {
    for (const name of Object.keys(stack.functions)) {
      expect(alarmNames.some((n) => n.includes(`LambdaErrors-${name}"`))).toBe(true);
    }
    const http = alarms.find((a) => JSON.stringify(a.Properties.AlarmName).includes('Http5xxRate'));
    expect(JSON.stringify(http?.Properties.Metrics)).toContain('5xx');
  });

  it('covers every platform alarm the runbook names', () => {
    for (const kind of Object.keys(PLATFORM_ALARMS)) {
      expect(alarmNames.some((n) => n.includes(kind))).toBe(true);
    }
  });

  it('sends every alarm to the encrypted, SSL-only alarm topic', () => {
    const topics = observed.findResources('AWS::SNS::Topic');
    const [topicId, topic] = Object.entries(topics)[0] ?? [];
    expect(topic?.Properties?.KmsMasterKeyId).toBeDefined();
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    observed.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  // A topic policy replaces SNS's default one: without an Allow for CloudWatch's service
  // principal no alarm can publish ("no resource-based policy allows the SNS:Publish action").
  it('lets CloudWatch alarms of this account (and this stack) publish to the topic, SSL only', () => {
    const [topicId] = Object.keys(observed.findResources('AWS::SNS::Topic'));
    const policies = Object.values(observed.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    const policy = policies[0]?.Properties as {
      Topics: unknown[];
      PolicyDocument: { Statement: Array<Record<string, unknown>> };
    };
    expect(policy.Topics).toEqual([{ Ref: topicId }]);
    const statements = policy.PolicyDocument.Statement;
    const publish = statements.filter(
      (s) =>
        s.Effect === 'Allow' &&
        JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }),
    );
    expect(publish).toHaveLength(1);
    expect(publish[0]).toMatchObject({
      Action: 'sns:Publish',
      Resource: { Ref: topicId },
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() },
      },
    });
    // The alarms it allows are this stack's own (every alarm name starts with the stack name).
    const condition = publish[0]?.Condition as { ArnLike: Record<string, unknown> } | undefined;
    const sourceArn = JSON.stringify(condition?.ArnLike['aws:SourceArn']);
    expect(sourceArn).toContain(':alarm:Obs-*');
    for (const alarmName of alarmNames) expect(alarmName.startsWith('"Obs-')).toBe(true);
    // The enforce-SSL statement stays.
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });
});

describe('context values', () => {
  it('subscribes no e-mail by default, and the address given in context', () => {
    observed.resourceCountIs('AWS::SNS::Subscription', 0);
    const withEmail = synth({ [CONTEXT_KEYS.alarmEmail]: 'ops@example.com' }).observed;
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('throttles the HTTP API stage at the context rate (default sized for 10,000 webhooks/s)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 10000, ThrottlingBurstLimit: 20000 },
    });
    const tuned = synth({
      [CONTEXT_KEYS.httpRateLimit]: '25000',
      [CONTEXT_KEYS.httpBurstLimit]: 50000,
    }).template;
    tuned.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 25000, ThrottlingBurstLimit: 50000 },
    });
  });

  it('caps the SQS event sources and reserves function concurrency from context', () => {
    const tuned = synth({
      [CONTEXT_KEYS.queueMaxConcurrency]: { sends: 7 },
      [CONTEXT_KEYS.reservedConcurrency]: '{"receiveWhatsApp": 900}',
    });
    tuned.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 7 },
    });
    tuned.template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 900,
    });
  });

  it('merges a context value with the defaults: one queue named keeps the others capped', () => {
    const tuned = synth({ [CONTEXT_KEYS.queueMaxConcurrency]: '{"sends":150}' });
    // The SQS mappings (a stream mapping takes no maximum concurrency: its shards bound it).
    const caps = Object.values(tuned.template.findResources('AWS::Lambda::EventSourceMapping'))
      .filter((m) => (m.Properties as { StartingPosition?: string }).StartingPosition === undefined)
      .map(
        (m) => (m.Properties as { ScalingConfig?: { MaximumConcurrency?: number } }).ScalingConfig,
      );
    expect(caps.map((c) => c?.MaximumConcurrency).sort((a, b) => Number(a) - Number(b))).toEqual(
      [
        DEFAULT_LIMITS.queueMaxConcurrency.fanout,
        150,
        DEFAULT_LIMITS.queueMaxConcurrency.jobs,
        DEFAULT_LIMITS.queueMaxConcurrency.replies,
        DEFAULT_LIMITS.queueMaxConcurrency.eventDeliveries,
      ]
        .map(Number)
        .sort((a, b) => a - b),
    );
  });

  it.each([
    [
      CONTEXT_KEYS.queueMaxConcurrency,
      '{"send":100}',
      /queueMaxConcurrency.*'send'.*jobs, sends, fanout/,
    ],
    [
      CONTEXT_KEYS.reservedConcurrency,
      '{"receiveWhatsapp":900}',
      /reservedConcurrency.*'receiveWhatsapp'.*not a function/,
    ],
    [CONTEXT_KEYS.queueMaxConcurrency, '{"sends":1}', /queueMaxConcurrency\.sends.*2.*1000.*got 1/],
    [
      CONTEXT_KEYS.queueMaxConcurrency,
      '{"jobs":1001}',
      /queueMaxConcurrency\.jobs.*2.*1000.*got 1001/,
    ],
    [
      CONTEXT_KEYS.reservedConcurrency,
      '{"health":-1}',
      /reservedConcurrency\.health.*whole number.*got -1/,
    ],
    [
      CONTEXT_KEYS.reservedConcurrency,
      '{"health":1.5}',
      /reservedConcurrency\.health.*whole number.*got 1.5/,
    ],
    [
      CONTEXT_KEYS.reservedConcurrency,
      '{"receiveWhatsApp":600,"sendCampaignMessage":301}',
      /reservedConcurrency.*901.*leave at least 100 unreserved.*1000/,
    ],
    [CONTEXT_KEYS.http5xxPercent, '101', /http5xxPercent.*100/],
    [
      'onceflow:reservedConcurency',
      '{"health":1}',
      /unknown context key 'onceflow:reservedConcurency'/,
    ],
  ])('fails synth at once on %s = %s, naming it', (key, value, message) => {
    expect(() => synth({ [key]: value })).toThrow(message);
  });

  it('takes a reserved concurrency that leaves 100 unreserved of the account limit given', () => {
    const big = synth({
      [CONTEXT_KEYS.reservedConcurrency]: '{"receiveWhatsApp":1200}',
      [CONTEXT_KEYS.accountConcurrency]: '3000',
    });
    big.template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1200,
    });
  });

  it('protects every table from deletion by default; a test stack turns it off by context', () => {
    const tables = (t: Template) =>
      Object.values(t.findResources('AWS::DynamoDB::Table')).map(
        (r) => (r.Properties as { DeletionProtectionEnabled?: boolean }).DeletionProtectionEnabled,
      );
    expect(tables(template).length).toBeGreaterThan(0);
    expect(tables(template).every((enabled) => enabled === true)).toBe(true);
    const throwaway = synth({ [CONTEXT_KEYS.deletionProtection]: 'false' }).template;
    expect(tables(throwaway).every((enabled) => enabled === false)).toBe(true);
    // Retained on stack deletion either way: turning protection off does not make a delete drop data.
    for (const r of Object.values(throwaway.findResources('AWS::DynamoDB::Table'))) {
      expect(r.DeletionPolicy).toBe('Retain');
    }
    expect(() => synth({ [CONTEXT_KEYS.deletionProtection]: 'no' })).toThrow(
      /onceflow:deletionProtection must be true or false/,
    );
  });

  it('refuses a bad context value with its name', () => {
    const app = new App({ context: { ...CDK_CONTEXT, [CONTEXT_KEYS.httpRateLimit]: '-5' } });
    expect(() => limitsFromContext(app.node)).toThrow(CONTEXT_KEYS.httpRateLimit);
  });
});
