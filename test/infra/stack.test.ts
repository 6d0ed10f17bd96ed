/**
 * The stack is what the manifest says, and no more: every table, queue, route, consumer and
 * schedule exists with its security-relevant settings, and each function's role reaches exactly
 * the tables, queues and secrets its manifest entry names. Everything is derived from the manifest
 * so the assertions keep holding as it grows. Bundling is skipped: handlers may not exist yet.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ONCEFLOW_RUNTIME, OnceflowFunction } from '../../lib/constructs/onceflow-function.js';
import { globalIndex } from '../../lib/local/provision.js';
import {
  envNameForQueue,
  envNameForSecret,
  envNameForTable,
  type FunctionSpec,
  type QueueName,
  type SecretName,
  type TableName,
} from '../../lib/manifest.js';
import {
  MANIFEST,
  type OnceflowManifest,
  OnceflowStack,
  SECRET_DESCRIPTIONS,
  scheduleRate,
} from '../../lib/onceflow-stack.js';
import { everyTriggerManifest, QUEUE_NAMES, SECRET_NAMES, testApp } from './synth-support.js';

function synth(manifest: OnceflowManifest) {
  const stack = new OnceflowStack(testApp(), 'Test', { manifest });
  return { stack, template: Template.fromStack(stack) };
}

function idOf(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** A resource's properties in the shape the test reads; a missing resource fails the test. */
function props<T>(resource: { Properties?: unknown } | undefined): T {
  if (!resource?.Properties) throw new Error('resource or its properties are missing');
  return resource.Properties as T;
}

function asArray<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

/** The logical id a policy resource points at: `Ref`, `GetAtt ... Arn`, or a join starting with one. */
function target(resource: unknown): string {
  if (resource === '*') return '*';
  const value = resource as Record<string, unknown>;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  // A table's stream is its own target (`<table>.StreamArn`), apart from the table's items.
  if (Array.isArray(getAtt)) {
    return getAtt[1] === 'StreamArn' ? `${String(getAtt[0])}.StreamArn` : String(getAtt[0]);
  }
  const join = value['Fn::Join'];
  if (Array.isArray(join)) return target((join[1] as unknown[])[0]);
  throw new Error(`unexpected policy resource ${JSON.stringify(resource)}`);
}

/** The role's inline policies (where `OnceflowFunction` grants) and policies attached to it. */
function statementsOfRole(resources: Resources, roleId: string): Statement[] {
  const role = resources[roleId];
  const inline = role
    ? (props<{ Policies?: Array<{ PolicyDocument: { Statement: Statement[] } }> }>(role).Policies ??
      [])
    : [];
  return [
    ...inline.flatMap((p) => p.PolicyDocument.Statement),
    ...Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          props<{ Roles: unknown[] }>(r).Roles.some((role) => target(role) === roleId),
      )
      .flatMap(
        (r) => props<{ PolicyDocument: { Statement: Statement[] } }>(r).PolicyDocument.Statement,
      ),
  ];
}

/** Logical ids reached by statements granting any of `actions`. */
function targetsOf(statements: Statement[], actions: (action: string) => boolean): Set<string> {
  return new Set(
    statements
      .filter((s) => asArray(s.Action).some(actions))
      .flatMap((s) => asArray(s.Resource).map(target)),
  );
}

const DYNAMODB_WRITES = new Set([
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
]);

/** Every action a function role may hold: item reads and writes, send/consume, read a secret. */
const ALLOWED_ACTIONS = new Set([
  ...DYNAMODB_WRITES,
  ...[
    'BatchGetItem',
    'ConditionCheckItem',
    'DescribeTable',
    'GetItem',
    'GetRecords',
    'GetShardIterator',
    'Query',
    'Scan',
  ].map((a) => `dynamodb:${a}`),
  ...[
    'SendMessage',
    'ReceiveMessage',
    'DeleteMessage',
    'ChangeMessageVisibility',
    'GetQueueAttributes',
    'GetQueueUrl',
  ].map((a) => `sqs:${a}`),
  'secretsmanager:GetSecretValue',
  'secretsmanager:DescribeSecret',
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  // A stream trigger's reads (only on the streams it names, and ListStreams, which takes no resource).
  'dynamodb:DescribeStream',
  'dynamodb:ListStreams',
]);

/** What a stream trigger's event source mapping grants on each stream it reads. */
const STREAM_READS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
];

function rateExpression(everySeconds: number): string {
  const minutes = Math.max(1, Math.ceil(everySeconds / 60));
  // EventBridge's rate() in the largest whole unit, as the CDK writes it (a daily schedule: 1 day).
  const [n, unit] =
    minutes % 1440 === 0
      ? [minutes / 1440, 'day']
      : minutes % 60 === 0
        ? [minutes / 60, 'hour']
        : [minutes, 'minute'];
  return `rate(${n} ${n === 1 ? unit : `${unit}s`})`;
}

const SCENARIOS: Array<{ label: string; manifest: OnceflowManifest }> = [
  { label: 'project manifest', manifest: MANIFEST },
  { label: 'every trigger kind', manifest: everyTriggerManifest() },
];

describe.each(SCENARIOS)('OnceflowStack from the $label', ({ manifest }) => {
  // Prepare
  const { stack, template } = synth(manifest);
  const resources = template.toJSON().Resources as Resources;
  const functionEntries = Object.entries(manifest.functions) as Array<[string, FunctionSpec]>;
  const fnOf = (name: string): OnceflowFunction => {
    const fn = stack.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    return fn;
  };
  const tableIds = (names: Iterable<string>) =>
    new Set([...names].map((n) => idOf(stack.tables[n as TableName])));
  const queueIds = (names: Iterable<string>) =>
    new Set([...names].map((n) => idOf(stack.queues[n as QueueName])));
  const secretIds = (names: Iterable<string>) =>
    new Set([...names].map((n) => idOf(stack.secrets[n as SecretName])));

  describe('tables', () => {
    it('has exactly one DynamoDB table per manifest table', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', Object.keys(manifest.tables).length);
    });

    it.each(Object.entries(manifest.tables))(
      '%s is on-demand, PITR, TTL, AWS-managed SSE, retained, with its GSIs',
      (name, spec) => {
        const found = template.findResources('AWS::DynamoDB::Table', {
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
          Properties: {
            BillingMode: 'PAY_PER_REQUEST',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
            TimeToLiveSpecification: { AttributeName: spec.ttlAttribute, Enabled: true },
            KeySchema: [
              { AttributeName: spec.partitionKey, KeyType: 'HASH' },
              ...(spec.sortKey ? [{ AttributeName: spec.sortKey, KeyType: 'RANGE' }] : []),
            ],
            GlobalSecondaryIndexes:
              spec.indexes.length === 0
                ? Match.absent()
                : // The same indexes local provisioning creates: local and deployed tables agree.
                  spec.indexes.map((index) => {
                    const local = globalIndex(index);
                    return {
                      ...local,
                      Projection: { NonKeyAttributes: Match.absent(), ...local.Projection },
                    };
                  }),
          },
        });
        expect(Object.keys(found)).toContain(idOf(stack.tables[name as TableName]));
      },
    );
  });

  describe('queues', () => {
    it('has one FIFO queue and one FIFO dead-letter queue per manifest queue, and a DLQ per stream trigger', () => {
      const streamTriggered = functionEntries.filter(([, spec]) => spec.trigger.kind === 'stream');
      template.resourceCountIs(
        'AWS::SQS::Queue',
        2 * Object.keys(manifest.queues).length + streamTriggered.length,
      );
    });

    it.each(Object.entries(manifest.queues))(
      '%s is high-throughput FIFO, encrypted, TLS-only, with a FIFO DLQ',
      (name, spec) => {
        const queueId = idOf(stack.queues[name as QueueName]);
        const dlqId = idOf(stack.deadLetterQueues[name as QueueName]);
        const fifo = {
          FifoQueue: true,
          ContentBasedDeduplication: false,
          DeduplicationScope: 'messageGroup',
          FifoThroughputLimit: 'perMessageGroupId',
          SqsManagedSseEnabled: true,
        };
        const queues = template.findResources('AWS::SQS::Queue', {
          Properties: {
            ...fifo,
            VisibilityTimeout: spec.visibilityTimeoutSeconds,
            RedrivePolicy: {
              deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
              maxReceiveCount: spec.maxReceiveCount,
            },
          },
        });
        expect(Object.keys(queues)).toContain(queueId);
        const dlqs = template.findResources('AWS::SQS::Queue', { Properties: fifo });
        expect(Object.keys(dlqs)).toContain(dlqId);

        for (const id of [queueId, dlqId]) {
          const policies = template.findResources('AWS::SQS::QueuePolicy', {
            Properties: {
              Queues: [{ Ref: id }],
              PolicyDocument: {
                Statement: Match.arrayWith([
                  Match.objectLike({
                    Effect: 'Deny',
                    Action: 'sqs:*',
                    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                  }),
                ]),
              },
            },
          });
          expect(Object.keys(policies), `TLS-only policy on ${id}`).toHaveLength(1);
        }
      },
    );

    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: "set the source
    // queue's visibility timeout to at least six times the configuration timeout on your function".
    it("hides a consumer's messages for at least 6x the consumer's timeout (AWS's SQS rule)", () => {
      for (const [name, spec] of functionEntries) {
        if (spec.trigger.kind !== 'queue') continue;
        const fn = resources[idOf(fnOf(name))];
        const queue = resources[idOf(stack.queues[spec.trigger.queue])];
        const timeout = fn?.Properties?.Timeout as number;
        expect(queue?.Properties?.VisibilityTimeout as number, name).toBeGreaterThanOrEqual(
          6 * timeout,
        );
      }
    });

    it('gives every consumer room for at least one record, and tells it how long one takes', () => {
      for (const [name, spec] of functionEntries) {
        if (spec.trigger.kind !== 'queue') continue;
        const fn = resources[idOf(fnOf(name))];
        const timeout = fn?.Properties?.Timeout as number;
        expect(timeout, name).toBeGreaterThanOrEqual(spec.trigger.recordSeconds);
        const environment = props<{ Environment: { Variables: Record<string, unknown> } }>(
          fn,
        ).Environment;
        expect(environment.Variables.ONCEFLOW_RECORD_SECONDS, name).toBe(
          String(spec.trigger.recordSeconds),
        );
      }
    });

    it('binds each stream trigger to each of its tables: from TRIM_HORIZON, one batch of a shard at a time, its batching window, bisected, bounded retries, partial failures, a standard DLQ', () => {
      for (const [name, spec] of functionEntries) {
        if (spec.trigger.kind !== 'stream') continue;
        const dlq = stack.streamDeadLetterQueues[name];
        if (!dlq) throw new Error(`${name} has no stream DLQ`);
        expect(template.toJSON().Resources[idOf(dlq)]?.Properties?.FifoQueue).toBeUndefined();
        for (const table of spec.trigger.tables) {
          template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
            FunctionName: { Ref: idOf(fnOf(name)) },
            EventSourceArn: { 'Fn::GetAtt': [idOf(stack.tables[table]), 'StreamArn'] },
            StartingPosition: 'TRIM_HORIZON',
            BatchSize: spec.trigger.batchSize,
            BisectBatchOnFunctionError: true,
            MaximumRetryAttempts: spec.trigger.retryAttempts,
            FunctionResponseTypes: ['ReportBatchItemFailures'],
            DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [idOf(dlq), 'Arn'] } } },
            // One batch of a shard at a time (above 1 Lambda orders records per item only).
            ParallelizationFactor: 1,
            ...(spec.trigger.batchingWindowSeconds
              ? { MaximumBatchingWindowInSeconds: spec.trigger.batchingWindowSeconds }
              : {}),
          });
          expect(
            template.toJSON().Resources[idOf(stack.tables[table])]?.Properties?.StreamSpecification,
          ).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
        }
      }
    });

    it('binds each queue consumer with its batch size and partial batch failures', () => {
      const consumers = functionEntries.filter(([, spec]) => spec.trigger.kind === 'queue');
      const streamMappings = functionEntries.flatMap(([, spec]) =>
        spec.trigger.kind === 'stream' ? spec.trigger.tables : [],
      );
      template.resourceCountIs(
        'AWS::Lambda::EventSourceMapping',
        consumers.length + streamMappings.length,
      );
      for (const [name, spec] of consumers) {
        if (spec.trigger.kind !== 'queue') continue;
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: { Ref: idOf(fnOf(name)) },
          EventSourceArn: { 'Fn::GetAtt': [idOf(stack.queues[spec.trigger.queue]), 'Arn'] },
          BatchSize: spec.trigger.batchSize,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
    });
  });

  describe('functions', () => {
    it('has exactly one Lambda function per manifest function', () => {
      template.resourceCountIs('AWS::Lambda::Function', functionEntries.length);
    });

    it.each(functionEntries)(
      '%s is arm64 on the chosen Node.js runtime, traced, with the manifest timeout and memory',
      (name, spec) => {
        const found = template.findResources('AWS::Lambda::Function', {
          Properties: {
            Runtime: ONCEFLOW_RUNTIME.name,
            Architectures: ['arm64'],
            TracingConfig: { Mode: 'Active' },
            Handler: 'index.handler',
            Timeout: spec.timeoutSeconds ?? 10,
            MemorySize: spec.memoryMb ?? 512,
            Description: spec.description,
            Environment: {
              Variables: Match.objectLike({
                NODE_OPTIONS: Match.absent(),
                POWERTOOLS_SERVICE_NAME: 'onceflow',
                POWERTOOLS_METRICS_NAMESPACE: 'Onceflow',
                POWERTOOLS_LOG_LEVEL: 'INFO',
                ONCEFLOW_LEASE_SECONDS: '60',
                ONCEFLOW_RECONCILE_WINDOW_SECONDS: '600',
                ONCEFLOW_OCI_STALE_SECONDS: '900',
              }),
            },
          },
        });
        expect(Object.keys(found)).toContain(idOf(fnOf(name)));
      },
    );

    it.each(functionEntries)('%s logs to its own log group kept one month', (name) => {
      const logging = props<{ LoggingConfig: { LogGroup: unknown } }>(resources[idOf(fnOf(name))]);
      const logGroup = resources[target(logging.LoggingConfig.LogGroup)];
      expect(logGroup?.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup?.Properties?.RetentionInDays).toBe(30);
    });

    it.each(functionEntries)(
      '%s receives the names of exactly the resources its manifest entry names',
      (name, spec) => {
        const variables = props<{ Environment: { Variables: Record<string, unknown> } }>(
          resources[idOf(fnOf(name))],
        ).Environment.Variables;
        const expected: Record<string, unknown> = {};
        for (const table of Object.keys(spec.tables) as TableName[]) {
          expected[envNameForTable(table)] = { Ref: idOf(stack.tables[table]) };
        }
        for (const queue of spec.sendsTo ?? []) {
          expected[envNameForQueue(queue)] = { Ref: idOf(stack.queues[queue]) };
        }
        for (const secret of spec.secrets ?? []) {
          expected[envNameForSecret(secret)] = { Ref: idOf(stack.secrets[secret]) };
        }
        const bound = Object.fromEntries(
          Object.entries(variables).filter(([key]) => /^ONCEFLOW_(TABLE|QUEUE|SECRET)_/.test(key)),
        );
        expect(bound).toEqual(expected);
      },
    );
  });

  describe('least privilege', () => {
    it.each(functionEntries)(
      '%s may touch exactly the tables, queues and secrets its manifest entry names',
      (name, spec) => {
        const fn = fnOf(name);
        if (!fn.role) throw new Error(`${name} has no role`);
        const roleId = idOf(fn.role);
        const role = resources[roleId];
        const statements = statementsOfRole(resources, roleId);

        // No AWS managed policy (AWSLambdaBasicExecutionRole writes to every log group).
        expect(role?.Properties?.ManagedPolicyArns).toBeUndefined();
        expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
        // No service-wide or global action wildcards, e.g. `dynamodb:*`.
        for (const action of statements.flatMap((s) => asArray(s.Action))) {
          expect(action).not.toMatch(/\*/);
        }
        // `*` resources only for X-Ray and a stream trigger's ListStreams, which have no
        // resource-level permissions.
        const streamed = spec.trigger.kind === 'stream' ? spec.trigger.tables : [];
        for (const s of statements.filter((s) => asArray(s.Resource).includes('*'))) {
          for (const action of asArray(s.Action)) {
            expect(action).toMatch(
              streamed.length > 0 ? /^(xray:|dynamodb:ListStreams$)/ : /^xray:/,
            );
          }
        }
        // Stream reads exactly on the streams its trigger names, nothing else on a stream.
        const streamIds = new Set([...tableIds(streamed)].map((id) => `${id}.StreamArn`));
        const onStreams = statements.filter((s) =>
          asArray(s.Resource).some((r) => target(r).endsWith('.StreamArn')),
        );
        expect(new Set(onStreams.flatMap((s) => asArray(s.Resource).map(target)))).toEqual(
          streamIds,
        );
        for (const s of onStreams) expect(asArray(s.Action).sort()).toEqual(STREAM_READS);

        const tables = spec.tables as Partial<Record<TableName, string>>;
        const itemTargets = (actions: (action: string) => boolean) =>
          new Set(
            [...targetsOf(statements, actions)].filter(
              (t) => t !== '*' && !t.endsWith('.StreamArn'),
            ),
          );
        expect(itemTargets((a) => a.startsWith('dynamodb:'))).toEqual(
          tableIds(Object.keys(tables)),
        );
        expect(targetsOf(statements, (a) => DYNAMODB_WRITES.has(a))).toEqual(
          tableIds(Object.keys(tables).filter((t) => tables[t as TableName] === 'readWrite')),
        );
        // A stream trigger's dead letters: its own DLQ, sent to (by the event source mapping).
        const streamDlq = stack.streamDeadLetterQueues[name];
        const deadLetters = streamDlq ? new Set([idOf(streamDlq)]) : new Set<string>();
        expect(targetsOf(statements, (a) => a === 'sqs:SendMessage')).toEqual(
          new Set([...queueIds(spec.sendsTo ?? []), ...deadLetters]),
        );
        const consumed = spec.trigger.kind === 'queue' ? [spec.trigger.queue] : [];
        for (const consume of ['sqs:ReceiveMessage', 'sqs:DeleteMessage']) {
          expect(targetsOf(statements, (a) => a === consume)).toEqual(queueIds(consumed));
        }
        expect(targetsOf(statements, (a) => a.startsWith('sqs:'))).toEqual(
          new Set([...queueIds([...(spec.sendsTo ?? []), ...consumed]), ...deadLetters]),
        );
        expect(targetsOf(statements, (a) => a.startsWith('secretsmanager:'))).toEqual(
          secretIds(spec.secrets ?? []),
        );
        expect(targetsOf(statements, (a) => a.startsWith('logs:'))).toEqual(
          new Set([
            target(
              props<{ LoggingConfig: { LogGroup: unknown } }>(resources[idOf(fn)]).LoggingConfig
                .LogGroup,
            ),
          ]),
        );
        for (const action of statements.flatMap((s) => asArray(s.Action))) {
          expect(ALLOWED_ACTIONS, action).toContain(action);
        }
      },
    );
  });

  describe('HTTP API', () => {
    const routes = functionEntries.flatMap(([name, spec]) =>
      spec.trigger.kind === 'http' ? spec.trigger.routes.map((r) => ({ ...r, name })) : [],
    );

    const defaultRouteFunctions = functionEntries.filter(
      ([, spec]) => spec.trigger.kind === 'http' && spec.trigger.defaultRoute === true,
    );

    it('has exactly the manifest routes, plus the $default route', () => {
      template.resourceCountIs(
        'AWS::ApiGatewayV2::Route',
        routes.length + defaultRouteFunctions.length,
      );
    });

    it("has a $default route to the manifest's notFound function, so unknown routes get the contract's 404", () => {
      expect(defaultRouteFunctions.map(([name]) => name)).toEqual(
        manifest === MANIFEST ? ['notFound'] : [],
      );
      const found = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { RouteKey: '$default' },
      });
      expect(Object.keys(found)).toHaveLength(defaultRouteFunctions.length);
      for (const [name] of defaultRouteFunctions) {
        const [routeResource] = Object.values(found);
        const targetJoin = props<{ Target: { 'Fn::Join': [string, unknown[]] } }>(routeResource)
          .Target['Fn::Join'][1];
        const integration = resources[target(targetJoin[1])];
        expect(integration?.Properties).toMatchObject({
          IntegrationType: 'AWS_PROXY',
          PayloadFormatVersion: '2.0',
          IntegrationUri: { 'Fn::GetAtt': [idOf(fnOf(name)), 'Arn'] },
        });
      }
    });

    it.each(routes)('$method $path reaches $name with payload format 2.0', (route) => {
      const found = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { RouteKey: `${route.method} ${route.path}` },
      });
      const [routeResource] = Object.values(found);
      expect(Object.keys(found)).toHaveLength(1);
      const targetJoin = props<{ Target: { 'Fn::Join': [string, unknown[]] } }>(routeResource)
        .Target['Fn::Join'][1];
      const integration = resources[target(targetJoin[1])];
      expect(integration?.Type).toBe('AWS::ApiGatewayV2::Integration');
      expect(integration?.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [idOf(fnOf(route.name)), 'Arn'] },
      });
    });

    it('lets API Gateway invoke http functions only from this API', () => {
      for (const [name, spec] of functionEntries) {
        if (spec.trigger.kind !== 'http') continue;
        template.hasResourceProperties('AWS::Lambda::Permission', {
          Action: 'lambda:InvokeFunction',
          Principal: 'apigateway.amazonaws.com',
          FunctionName: { 'Fn::GetAtt': [idOf(fnOf(name)), 'Arn'] },
          SourceArn: Match.objectLike({
            'Fn::Join': ['', Match.arrayWith([{ Ref: idOf(stack.httpApi) }])],
          }),
        });
      }
    });

    it('serves a throttled, access-logged $default stage', () => {
      template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } },
        DefaultRouteSettings: {
          ThrottlingRateLimit: Match.anyValue(),
          ThrottlingBurstLimit: Match.anyValue(),
        },
      });
    });
  });

  describe('schedules', () => {
    const scheduled = functionEntries.filter(([, spec]) => spec.trigger.kind === 'schedule');

    it('has exactly one schedule per scheduled function', () => {
      template.resourceCountIs('AWS::Scheduler::Schedule', scheduled.length);
    });

    it.each(scheduled)('%s fires at its rate with {"schedule": name}', (name, spec) => {
      if (spec.trigger.kind !== 'schedule') throw new Error('not a schedule');
      const found = template.findResources('AWS::Scheduler::Schedule', {
        Properties: {
          State: 'ENABLED',
          ScheduleExpression: rateExpression(spec.trigger.everySeconds),
          Target: {
            Arn: { 'Fn::GetAtt': [idOf(fnOf(name)), 'Arn'] },
            Input: JSON.stringify({ schedule: name }),
          },
        },
      });
      const [schedule] = Object.values(found);
      expect(Object.keys(found)).toHaveLength(1);

      // Its role can invoke this function (and its versions), nothing else.
      const roleArn = props<{ Target: { RoleArn: unknown } }>(schedule).Target.RoleArn;
      const statements = statementsOfRole(resources, target(roleArn));
      expect(statements.flatMap((s) => asArray(s.Action))).toEqual(['lambda:InvokeFunction']);
      expect(targetsOf(statements, () => true)).toEqual(new Set([idOf(fnOf(name))]));
    });

    // Lambda retries a failed asynchronous invocation twice by default and keeps the event up to
    // 6 hours; for a sweep the next firing is the retry.
    it.each(scheduled)(
      '%s: no Lambda retry of a failed run, and no event older than one interval',
      (name, spec) => {
        if (spec.trigger.kind !== 'schedule') throw new Error('not a schedule');
        const configs = Object.values(
          template.findResources('AWS::Lambda::EventInvokeConfig', {
            Properties: { FunctionName: { Ref: idOf(fnOf(name)) } },
          }),
        );
        expect(configs).toHaveLength(1);
        expect(configs[0]?.Properties).toMatchObject({
          MaximumRetryAttempts: 0,
          MaximumEventAgeInSeconds: Math.min(
            scheduleRate(spec.trigger.everySeconds).toSeconds(),
            6 * 3600,
          ),
          Qualifier: '$LATEST',
        });
      },
    );
  });

  describe('secrets and outputs', () => {
    it.each(SECRET_NAMES)('secret %s exists, retained, with a generated placeholder', (name) => {
      const found = template.findResources('AWS::SecretsManager::Secret', {
        DeletionPolicy: 'Retain',
        Properties: { GenerateSecretString: Match.anyValue(), SecretString: Match.absent() },
      });
      expect(Object.keys(found)).toContain(idOf(stack.secrets[name]));
    });

    it('outputs the API URL, every table name and every queue URL', () => {
      template.hasOutput('ApiUrl', {});
      const outputs = Object.values(template.findOutputs('*')).map((o) => o.Value);
      for (const table of Object.values(stack.tables)) {
        expect(outputs).toContainEqual({ Ref: idOf(table) });
      }
      for (const queue of Object.values(stack.queues)) {
        expect(outputs).toContainEqual({ Ref: idOf(queue) });
      }
    });

    // The deploy guide's first step after `cdk deploy` is setting each secret: its ARN (what
    // `aws secretsmanager put-secret-value --secret-id` takes) and name are outputs.
    it.each(SECRET_NAMES)('outputs secret %s by ARN and by name, described', (name) => {
      const pascal = name.charAt(0).toUpperCase() + name.slice(1);
      const outputs = template.findOutputs('*');
      expect(outputs[`${pascal}SecretArn`]?.Value).toEqual({ Ref: idOf(stack.secrets[name]) });
      expect(outputs[`${pascal}SecretArn`]?.Description).toContain(
        SECRET_DESCRIPTIONS[name].replace(/ \(set by the operator\)$/, ''),
      );
      expect(JSON.stringify(outputs[`${pascal}SecretName`]?.Value)).toContain(
        idOf(stack.secrets[name]),
      );
    });
  });
});

describe('synth-time checks', () => {
  const [queue] = QUEUE_NAMES;
  if (!queue) throw new Error('the manifest declares no queue');
  const consumer = (timeoutSeconds: number, recordSeconds = 1): FunctionSpec => ({
    entry: 'functions/__probe__/consumer.ts',
    description: 'probe: consumer',
    trigger: { kind: 'queue', queue, batchSize: 10, recordSeconds },
    tables: {},
    timeoutSeconds,
  });
  const withFunctions = (functions: Record<string, FunctionSpec>): OnceflowManifest => ({
    ...MANIFEST,
    functions,
  });

  it('refuses a consumer whose queue hides a message for less than 6x its timeout, naming both', () => {
    const visibility = MANIFEST.queues[queue].visibilityTimeoutSeconds;
    const tooSlow = Math.floor(visibility / 6) + 1;
    expect(() => synth(withFunctions({ slow: consumer(tooSlow) }))).toThrow(
      new RegExp(
        `queue '${queue}' visibility timeout \\(${visibility}s\\) must be at least 6x .*'slow'`,
      ),
    );
    expect(() =>
      synth(withFunctions({ fast: consumer(Math.floor(visibility / 6)) })),
    ).not.toThrow();
  });

  it('refuses a consumer whose timeout cannot hold one record', () => {
    expect(() => synth(withFunctions({ tight: consumer(5, 6) }))).toThrow(
      /'tight'.*timeout \(5s\).*one record \(6s at its longest\)/,
    );
    expect(() => synth(withFunctions({ roomy: consumer(5, 5) }))).not.toThrow();
  });

  it('refuses two consumers on one FIFO queue', () => {
    expect(() => synth(withFunctions({ one: consumer(5), two: consumer(5) }))).toThrow(
      /two consumers/,
    );
  });

  it('fails a real synth on a handler entry that does not exist', () => {
    const manifest = withFunctions({
      missing: {
        entry: 'functions/__probe__/does-not-exist.ts',
        description: 'probe: missing entry',
        trigger: { kind: 'http', routes: [{ method: 'GET', path: '/missing' }] },
        tables: {},
      },
    });
    expect(() => new OnceflowStack(testApp(true), 'Real', { manifest })).toThrow(
      /does-not-exist\.ts/,
    );
  });

  it('rounds schedule rates up to whole minutes, at least one', () => {
    expect([30, 60, 61, 90, 300].map((s) => scheduleRate(s).toMinutes())).toEqual([1, 1, 2, 2, 5]);
    expect(() => scheduleRate(0)).toThrow();
  });

  it('uses the newest Node.js runtime this aws-cdk-lib knows', () => {
    const newest = Runtime.ALL.filter((r) => /^nodejs\d+\.x$/.test(r.name))
      .map((r) => Number(r.name.replace(/\D/g, '')))
      .sort((a, b) => b - a)[0];
    expect(ONCEFLOW_RUNTIME.name).toBe(`nodejs${newest}.x`);
  });
});

describe('OnceflowFunction bundling', () => {
  it('bundles an ESM handler with a createRequire banner and a source map', () => {
    // Prepare: the manifest is a dependency-free module under the project root, so this test
    // exercises the real esbuild options in milliseconds.
    const entry = 'lib/manifest.ts';
    const app = testApp(true);
    const stack = new Stack(app, 'Bundle');

    // Act
    new OnceflowFunction(stack, 'Fn', {
      entry,
      description: 'bundle probe',
      timeout: Duration.seconds(3),
    });
    const assembly = app.synth();

    // Assess
    const assetDir = readdirSync(assembly.directory).find((d) => d.startsWith('asset.'));
    if (!assetDir) throw new Error('no asset was bundled');
    const files = readdirSync(join(assembly.directory, assetDir));
    expect(files.sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const code = readFileSync(join(assembly.directory, assetDir, 'index.mjs'), 'utf8');
    expect(
      code.startsWith(
        "import { createRequire as __onceflowCreateRequire } from 'node:module'; const require = __onceflowCreateRequire(import.meta.url);",
      ),
    ).toBe(true);
    expect(code).toMatch(/export\s*\{/);
  });

  it('gives each function the bundle of its own entry', () => {
    // Prepare: two dependency-free modules, so the bundles differ only by their entry.
    const app = testApp(true);
    const stack = new Stack(app, 'TwoBundles');

    // Act
    for (const [id, entry] of [
      ['Manifest', 'lib/manifest.ts'],
      ['Limits', 'lib/operational-limits.ts'],
    ] as const) {
      new OnceflowFunction(stack, id, { entry, description: id, timeout: Duration.seconds(3) });
    }
    const assembly = app.synth();

    // Assess
    const template = Template.fromStack(stack);
    const keys = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) =>
      JSON.stringify(fn.Properties.Code),
    );
    expect(new Set(keys).size).toBe(2);
    const assets = readdirSync(assembly.directory).filter((d) => d.startsWith('asset.'));
    expect(assets).toHaveLength(2);
  });

  it('checks its props up front', () => {
    const stack = new Stack(testApp(), 'Props');
    const base = { entry: 'functions/__probe__/x.ts', description: 'probe' };
    expect(
      () => new OnceflowFunction(stack, 'Long', { ...base, timeout: Duration.minutes(16) }),
    ).toThrow(/timeout/);
    expect(() => new OnceflowFunction(stack, 'Small', { ...base, memorySize: 64 })).toThrow(
      /memorySize/,
    );
    expect(() => new OnceflowFunction(stack, 'Empty', { ...base, entry: ' ' })).toThrow(/entry/);
  });
});
