import {
  Annotations,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type CfnFunction, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import {
  DeduplicationScope,
  FifoThroughputLimit,
  Queue,
  QueueEncryption,
} from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { FOLD_LAG_BOUND_SECONDS, reconcileWindowProblem } from '../functions/campaigns/index.js';
import { DELIVERY_SPAN_SECONDS } from '../functions/events/index.js';
import { RECORD_SECONDS_ENV } from '../functions/kernel/config.js';
import {
  checkVersion,
  isRefused,
  VERSION_ENV,
  type VersionedProvider,
} from '../functions/kernel/provider-versions.js';
import { Observability } from './constructs/observability.js';
import { OnceflowFunction } from './constructs/onceflow-function.js';
import {
  deployedSettings,
  type FunctionSpec,
  functions as manifestFunctions,
  queues as manifestQueues,
  tables as manifestTables,
  type QueueName,
  type QueueSpec,
  type SecretName,
  type TableName,
  type TableSpec,
} from './manifest.js';
import { checkLimits, DEFAULT_LIMITS, type OperationalLimits } from './operational-limits.js';

/** The part of `lib/manifest.ts` the stack is generated from. */
export interface OnceflowManifest {
  readonly tables: Readonly<Record<TableName, TableSpec>>;
  readonly queues: Readonly<Record<QueueName, QueueSpec>>;
  readonly functions: Readonly<Record<string, FunctionSpec>>;
}

/** The project's manifest. */
export const MANIFEST: OnceflowManifest = {
  tables: manifestTables,
  queues: manifestQueues,
  functions: manifestFunctions,
};

/**
 * Every secret the functions may name. A `Record` so a new `SecretName` does not compile until it
 * is described here. Values are set by the operator; until then each holds a random string, so
 * whatever it guards fails closed.
 */
export const SECRET_DESCRIPTIONS: Readonly<Record<SecretName, string>> = {
  adminKeyHash: 'sha256 hex of the onceflow platform admin key (set by the operator)',
  whatsappAppSecret:
    'WhatsApp Cloud API app secret, verifies X-Hub-Signature-256 (set by the operator)',
  whatsappVerifyToken: 'WhatsApp webhook verify token, answers hub.challenge (set by the operator)',
  whatsappAccessToken:
    'WhatsApp Cloud API access token (system user), sends campaign templates (set by the operator)',
  aiApiKey:
    'API key of the OpenAI-compatible endpoint the ai_triage job calls (set by the operator)',
  googleAdsOAuthClient:
    'Google Ads API OAuth client as JSON {clientId, clientSecret, refreshToken} (set by the operator)',
  googleAdsDeveloperToken: 'Google Ads API developer token (set by the operator)',
  eventSigningKey:
    "Key that seals the event endpoints' signing secrets in their items (random; rotating it needs a re-seal)",
};

export interface OnceflowStackProps extends StackProps {
  /**
   * `ONCEFLOW_LEASE_SECONDS`: how long a worker's claim on an item lasts.
   * @default 60
   */
  readonly leaseSeconds?: number;
  /**
   * `ONCEFLOW_RECONCILE_WINDOW_SECONDS`: how long an unknown send outcome waits for evidence.
   * @default 600
   */
  readonly reconcileWindowSeconds?: number;
  /**
   * `ONCEFLOW_PROVIDER_TIMEOUT_SECONDS`: the longest one provider call may stay in flight; the
   * reconcile window must exceed it (synth refuses otherwise).
   * @default 10
   */
  readonly providerTimeoutSeconds?: number;
  /**
   * `ONCEFLOW_OCI_STALE_SECONDS`: when a claimed Google Ads export row returns to `retry`.
   * @default 900
   */
  readonly ociStaleSeconds?: number;
  /**
   * Default throttle of every HTTP API route.
   * @default from `limits`: { rateLimit: 10000, burstLimit: 20000 }
   */
  readonly httpThrottle?: ThrottleSettings;
  /**
   * Operational limits and alarm settings (`lib/operational-limits.ts`; `bin/onceflow.ts` reads
   * them from CDK context).
   * @default DEFAULT_LIMITS
   */
  readonly limits?: OperationalLimits;
  /**
   * Retention of the function and API access log groups.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What to build. Tests pass variations to prove the synth-time checks.
   * @default MANIFEST, the project's `lib/manifest.ts`
   */
  readonly manifest?: OnceflowManifest;
  /**
   * Provider API versions to deploy instead of the manifest's (`GOOGLE_ADS_API_VERSION`,
   * `WHATSAPP_API_VERSION`); synth refuses one past its sunset and warns within 60 days of it.
   * @default the manifest's, i.e. `DEFAULT_VERSIONS` of functions/kernel/provider-versions.ts
   */
  readonly providerVersions?: Partial<Record<VersionedProvider, string>>;
  /**
   * The time the version calendar is read at (a clock seam for the synth-time check).
   * @default Date.now()
   */
  readonly now?: number;
}

const DEFAULT_TIMEOUT_SECONDS = 10;
const DEFAULT_MEMORY_MB = 512;
/** How far the events change feed may trail its stream: its own lag alarm's window (ChangeFeedLagSeconds). */
const STREAM_ITERATOR_AGE_SECONDS = 300;

/**
 * onceflow on AWS, generated from the manifest: nothing here names a particular function, table
 * or queue, so a manifest entry is all it takes to add one.
 */
export class OnceflowStack extends Stack {
  readonly tables: Readonly<Record<TableName, Table>>;
  readonly queues: Readonly<Record<QueueName, Queue>>;
  readonly deadLetterQueues: Readonly<Record<QueueName, Queue>>;
  /**
   * Each stream-triggered function's on-failure destination (by function name): where Lambda puts
   * the description of a batch it gave up on after the trigger's retries (shard, sequence range).
   */
  readonly streamDeadLetterQueues: Readonly<Record<string, Queue>>;
  readonly secrets: Readonly<Record<SecretName, Secret>>;
  readonly functions: Readonly<Record<string, OnceflowFunction>>;
  readonly httpApi: HttpApi;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: OnceflowStackProps = {}) {
    super(scope, id, props);
    const manifest = props.manifest ?? MANIFEST;
    const settings = {
      ONCEFLOW_LEASE_SECONDS: positiveSeconds('leaseSeconds', props.leaseSeconds ?? 60),
      ONCEFLOW_RECONCILE_WINDOW_SECONDS: positiveSeconds(
        'reconcileWindowSeconds',
        props.reconcileWindowSeconds ?? 600,
      ),
      ONCEFLOW_OCI_STALE_SECONDS: positiveSeconds('ociStaleSeconds', props.ociStaleSeconds ?? 900),
      ONCEFLOW_PROVIDER_TIMEOUT_SECONDS: positiveSeconds(
        'providerTimeoutSeconds',
        props.providerTimeoutSeconds ?? 10,
      ),
    };
    const windowProblem = reconcileWindowProblem(
      Number(settings.ONCEFLOW_RECONCILE_WINDOW_SECONDS),
      Number(settings.ONCEFLOW_PROVIDER_TIMEOUT_SECONDS),
    );
    if (windowProblem) throw new Error(windowProblem);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    checkQueueConsumers(manifest);
    const limits = props.limits ?? DEFAULT_LIMITS;
    checkLimits(limits, {
      functions: Object.keys(manifest.functions),
      queues: Object.keys(manifest.queues),
    });

    this.tables = mapRecord(manifest.tables, (name, spec) =>
      this.createTable(name, spec, limits.deletionProtection),
    );
    const queuePairs = mapRecord(manifest.queues, (name, spec) => this.createQueue(name, spec));
    this.queues = mapRecord(queuePairs, (_, pair) => pair.queue);
    this.deadLetterQueues = mapRecord(queuePairs, (_, pair) => pair.deadLetterQueue);
    this.secrets = mapRecord(SECRET_DESCRIPTIONS, (name, description) =>
      this.createSecret(name, description),
    );
    this.httpApi = this.createHttpApi(
      props.httpThrottle ?? { rateLimit: limits.httpRateLimit, burstLimit: limits.httpBurstLimit },
      logRetention,
    );

    const versionEnv = this.checkProviderVersions(manifest, props);
    checkStreamTriggers(manifest);
    const streamDeadLetterQueues: Record<string, Queue> = {};
    this.streamDeadLetterQueues = streamDeadLetterQueues;
    const functions: Record<string, OnceflowFunction> = {};
    for (const [name, spec] of Object.entries(manifest.functions)) {
      const fn = new OnceflowFunction(this, `${pascal(name)}Function`, {
        entry: spec.entry,
        description: spec.description,
        timeout: Duration.seconds(spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
        memorySize: spec.memoryMb ?? DEFAULT_MEMORY_MB,
        logRetention,
        environment: {
          ...settings,
          ...deployedSettings(spec.environment),
          ...versionEnv(spec.environment),
        },
      });
      this.bindResources(name, fn, spec);
      if (spec.trigger.kind === 'stream') {
        streamDeadLetterQueues[name] = this.createStreamDeadLetterQueue(name);
      }
      this.attachTrigger(name, fn, spec, manifest, limits);
      const reserved = limits.reservedConcurrency[name];
      if (reserved !== undefined) {
        (fn.node.defaultChild as CfnFunction).reservedConcurrentExecutions = reserved;
      }
      functions[name] = fn;
    }
    this.functions = functions;
    this.observability = new Observability(this, 'Observability', {
      functions,
      queues: this.queues,
      deadLetterQueues: { ...this.deadLetterQueues, ...streamDeadLetterQueues },
      tables: this.tables,
      httpApi: this.httpApi,
      alarmEmail: limits.alarmEmail,
      http5xxPercent: limits.http5xxPercent,
      staleQueueSeconds: limits.staleQueueSeconds,
      // A delivery's message waits in its queue through the retry schedule by design: only one
      // older than the whole schedule is the "oldest undelivered event" alarm.
      staleQueueSecondsByQueue: { eventDeliveries: DELIVERY_SPAN_SECONDS },
      // The fold within its lag bound (reconciliation's quiet-shard rule rests on it); the events
      // change feed within the window of its own lag alarm.
      streamIteratorAgeSeconds: Object.fromEntries(
        Object.entries(manifest.functions)
          .filter(([, spec]) => spec.trigger.kind === 'stream')
          .map(([name]) => [
            name,
            name === 'foldCampaignCounters' ? FOLD_LAG_BOUND_SECONDS : STREAM_ITERATOR_AGE_SECONDS,
          ]),
      ),
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.apiEndpoint });
    for (const [name, table] of entries(this.tables)) {
      new CfnOutput(this, `${pascal(name)}TableName`, {
        value: table.tableName,
      });
    }
    for (const [name, queue] of entries(this.queues)) {
      new CfnOutput(this, `${pascal(name)}QueueUrl`, { value: queue.queueUrl });
    }
    // The ops CLI (`npx onceflow dlq ... --stack NAME`) finds the dead-letter queues here.
    for (const [name, queue] of entries(this.deadLetterQueues)) {
      new CfnOutput(this, `${pascal(name)}DeadLetterQueueUrl`, { value: queue.queueUrl });
    }
    for (const [name, queue] of Object.entries(streamDeadLetterQueues)) {
      new CfnOutput(this, `${pascal(name)}StreamDeadLetterQueueUrl`, { value: queue.queueUrl });
    }
    // Every secret, to set after the first deploy (docs/deploy.md): its ARN is what
    // `aws secretsmanager put-secret-value --secret-id` takes; the name is what the console shows.
    for (const [name, secret] of entries(this.secrets)) {
      const what = SECRET_DESCRIPTIONS[name].replace(/ \(set by the operator\)$/, '');
      new CfnOutput(this, `${pascal(name)}SecretArn`, {
        value: secret.secretArn,
        description: `Secret ${name}: ${what}`,
      });
      new CfnOutput(this, `${pascal(name)}SecretName`, { value: secret.secretName });
    }
  }

  /**
   * Every provider API version the functions will be deployed with, against the sunset calendar at
   * synth time: past its sunset (or unknown) → synth fails naming the setting; within 60 days → a
   * synth warning. Returns the overrides to apply to a function's environment.
   */
  private checkProviderVersions(
    manifest: OnceflowManifest,
    props: OnceflowStackProps,
  ): (environment: FunctionSpec['environment']) => Record<string, string> {
    const now = props.now ?? Date.now();
    const overrides = (environment: FunctionSpec['environment']) => {
      const out: Record<string, string> = {};
      for (const [provider, version] of Object.entries(props.providerVersions ?? {})) {
        const variable = VERSION_ENV[provider as VersionedProvider];
        if (version && environment?.[variable] !== undefined) out[variable] = version;
      }
      return out;
    };
    const seen = new Set<string>();
    for (const spec of Object.values(manifest.functions)) {
      const environment = { ...deployedSettings(spec.environment), ...overrides(spec.environment) };
      for (const provider of Object.keys(VERSION_ENV) as VersionedProvider[]) {
        const version = environment[VERSION_ENV[provider]];
        if (version === undefined || seen.has(`${provider}:${version}`)) continue;
        seen.add(`${provider}:${version}`);
        const finding = checkVersion(provider, version, now);
        if (isRefused(finding)) throw new Error(finding.message);
        if (finding.status.state === 'sunset_soon')
          Annotations.of(this).addWarning(finding.message);
      }
    }
    return overrides;
  }

  private createTable(name: TableName, spec: TableSpec, deletionProtection: boolean): Table {
    const table = new Table(this, `${pascal(name)}Table`, {
      // Retained when the stack is deleted, and protected from a delete by hand or by an update
      // that would replace it; a throwaway test stack turns protection off (docs/deploy.md).
      deletionProtection,
      partitionKey: { name: spec.partitionKey, type: AttributeType.STRING },
      sortKey: spec.sortKey ? { name: spec.sortKey, type: AttributeType.STRING } : undefined,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: spec.ttlAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(spec.stream ? { stream: StreamViewType[spec.stream] } : {}),
    });
    for (const index of spec.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        projectionType: ProjectionType[index.projection ?? 'ALL'],
        ...(index.projection === 'INCLUDE'
          ? { nonKeyAttributes: [...(index.nonKeyAttributes ?? [])] }
          : {}),
      });
    }
    return table;
  }

  private createQueue(name: QueueName, spec: QueueSpec): { queue: Queue; deadLetterQueue: Queue } {
    const id = pascal(name);
    const fifo = {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    } as const;
    const deadLetterQueue = new Queue(this, `${id}DeadLetterQueue`, {
      ...fifo,
      retentionPeriod: Duration.days(14),
    });
    const queue = new Queue(this, `${id}Queue`, {
      ...fifo,
      visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
      deadLetterQueue: {
        queue: deadLetterQueue,
        maxReceiveCount: spec.maxReceiveCount,
      },
    });
    return { queue, deadLetterQueue };
  }

  /**
   * A stream trigger's on-failure destination: a standard queue (Lambda sends a stream's failures
   * only to a standard SQS queue or SNS topic, https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html),
   * kept 14 days for an operator to replay the range it names while the stream still holds it
   * (24 hours).
   */
  private createStreamDeadLetterQueue(name: string): Queue {
    const queue = new Queue(this, `${pascal(name)}StreamDeadLetterQueue`, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(queue, [
      {
        id: 'AwsSolutions-SQS3',
        reason: `It is the dead-letter destination of ${name}'s stream trigger; a dead letter has no further queue to go to.`,
      },
    ]);
    return queue;
  }

  private createSecret(name: SecretName, description: string): Secret {
    const secret = new Secret(this, `${pascal(name)}Secret`, {
      description,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'The value is issued by a third party (Meta) or chosen by the operator, so no rotation Lambda can produce a new one; operators rotate it by hand.',
      },
    ]);
    return secret;
  }

  private createHttpApi(throttle: ThrottleSettings, retention: RetentionDays): HttpApi {
    const api = new HttpApi(this, 'HttpApi', {
      description: 'onceflow public HTTP contract (api.md)',
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'HttpApiAccessLogs', { retention });
    new HttpStage(this, 'HttpApiDefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
      },
    });
    return api;
  }

  private bindResources(name: string, fn: OnceflowFunction, spec: FunctionSpec): void {
    for (const [tableName, access] of entries(spec.tables)) {
      if (access === undefined) continue;
      fn.bindTable({
        name: tableName,
        table: lookup(this.tables, tableName, name),
        access,
      });
    }
    for (const queueName of spec.sendsTo ?? []) {
      fn.bindQueue({
        name: queueName,
        queue: lookup(this.queues, queueName, name),
      });
    }
    for (const secretName of spec.secrets ?? []) {
      fn.bindSecret({
        name: secretName,
        secret: lookup(this.secrets, secretName, name),
      });
    }
  }

  private attachTrigger(
    name: string,
    fn: OnceflowFunction,
    spec: FunctionSpec,
    manifest: OnceflowManifest,
    limits: OperationalLimits,
  ): void {
    const trigger = spec.trigger;
    switch (trigger.kind) {
      case 'http': {
        const integration = new HttpLambdaIntegration(`${pascal(name)}Integration`, fn, {
          payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
        });
        for (const route of trigger.routes) {
          const added = this.httpApi.addRoutes({
            path: route.path,
            methods: [HttpMethod[route.method]],
            integration,
          });
          for (const httpRoute of added) {
            NagSuppressions.addResourceSuppressions(httpRoute.node.defaultChild as CfnElement, [
              {
                id: 'AwsSolutions-APIG4',
                reason:
                  'Per api.md the handler authenticates (hashed bearer keys, webhook HMAC over the raw body, tokens), which an authorizer cannot do; /health and verify routes are public by contract.',
              },
            ]);
          }
        }
        if (trigger.defaultRoute) {
          const fallback = new HttpRoute(this, `${pascal(name)}DefaultRoute`, {
            httpApi: this.httpApi,
            routeKey: HttpRouteKey.DEFAULT,
            integration,
          });
          NagSuppressions.addResourceSuppressions(fallback.node.defaultChild as CfnElement, [
            {
              id: 'AwsSolutions-APIG4',
              reason:
                "The $default route only answers the contract's 404 for unknown routes; it reads and writes nothing.",
            },
          ]);
        }
        return;
      }
      case 'queue': {
        checkQueueTiming(name, spec, trigger, manifest.queues[trigger.queue]);
        // The consumer starts no record with less than this left (`functions/kernel/queue-consumer.ts`).
        fn.addEnvironment(RECORD_SECONDS_ENV, String(trigger.recordSeconds));
        fn.addEventSource(
          new SqsEventSource(lookup(this.queues, trigger.queue, name), {
            batchSize: trigger.batchSize,
            reportBatchItemFailures: true,
            maxConcurrency: limits.queueMaxConcurrency[trigger.queue],
          }),
        );
        return;
      }
      case 'stream': {
        const deadLetters = this.streamDeadLetterQueues[name];
        if (!deadLetters) throw new Error(`function ${name}: no stream dead-letter queue`);
        for (const tableName of trigger.tables) {
          // Lambda's event source mapping on the table's stream: from the oldest record kept (no
          // effect committed before the mapping exists is skipped), a failing batch bisected and
          // retried `retryAttempts` times (bisections not counted), then described to the DLQ.
          // The mapping grants the function exactly the stream's read actions
          // (DescribeStream, GetRecords, GetShardIterator on the stream; ListStreams).
          fn.addEventSource(
            new DynamoEventSource(lookup(this.tables, tableName, name), {
              startingPosition: StartingPosition.TRIM_HORIZON,
              batchSize: trigger.batchSize,
              bisectBatchOnError: true,
              reportBatchItemFailures: true,
              retryAttempts: trigger.retryAttempts,
              // One batch of a shard at a time: with more, Lambda keeps order only per item, and
              // the counter fold's guard needs a partition key's records in order.
              parallelizationFactor: 1,
              ...(trigger.batchingWindowSeconds
                ? { maxBatchingWindow: Duration.seconds(trigger.batchingWindowSeconds) }
                : {}),
              onFailure: new SqsDlq(deadLetters),
            }),
          );
        }
        return;
      }
      case 'schedule': {
        const every = scheduleRate(trigger.everySeconds);
        const role = new Role(this, `${pascal(name)}ScheduleRole`, {
          assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
            conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
          }),
          description: `EventBridge Scheduler invoking ${name}`,
        });
        new Schedule(this, `${pascal(name)}Schedule`, {
          description: `${name} every ${every.toMinutes()} minute(s)`,
          schedule: ScheduleExpression.rate(every),
          target: new LambdaInvoke(fn, {
            role,
            input: ScheduleTargetInput.fromObject({ schedule: name }),
            // Scheduler's own retries: of handing the event to Lambda (a throttled Invoke call),
            // not of a run that failed. A sweep older than its own interval is superseded by the
            // next firing.
            maxEventAge: every,
            retryAttempts: 2,
          }),
        });
        // Lambda's retries of a run that failed: by default twice (about 1 and 2 minutes later)
        // with events kept up to 6 hours, each retry beside the next firings. For a sweep the next
        // firing is the retry, so none, and an event older than one interval is dropped (the
        // schedule lease keeps any run that still arrives from overlapping another). A failed run
        // still counts in the function's Errors (the LambdaErrors alarm). Lambda keeps an event 6
        // hours at most, so a daily schedule's events are dropped after 6 hours.
        // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
        fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: asyncMaxEventAge(every) });
        const fnId = this.getLogicalId(fn.node.defaultChild as CfnElement);
        NagSuppressions.addResourceSuppressions(
          role,
          [
            {
              id: 'AwsSolutions-IAM5',
              reason: `grantInvoke adds ${name}'s own versions and aliases (ARN:*); the role invokes no other function.`,
              appliesTo: [`Resource::<${fnId}.Arn>:*`],
            },
          ],
          true,
        );
        return;
      }
      default:
        throw new Error(
          `function ${name}: unknown trigger ${JSON.stringify(trigger satisfies never)}`,
        );
    }
  }
}

/** Lambda keeps an asynchronous event from 1 minute to 6 hours (`MaximumEventAgeInSeconds`). */
export const MAX_ASYNC_EVENT_AGE = Duration.hours(6);

/** A scheduled run's event is worth keeping for one interval, and Lambda keeps none longer than 6 h. */
export function asyncMaxEventAge(every: Duration): Duration {
  return every.toSeconds() > MAX_ASYNC_EVENT_AGE.toSeconds() ? MAX_ASYNC_EVENT_AGE : every;
}

/** EventBridge Scheduler rates are whole minutes, at least one; never fire more often than asked. */
export function scheduleRate(everySeconds: number): Duration {
  if (!Number.isFinite(everySeconds) || everySeconds <= 0) {
    throw new Error(`schedule everySeconds must be positive, got ${everySeconds}`);
  }
  return Duration.minutes(Math.max(1, Math.ceil(everySeconds / 60)));
}

/**
 * Lambda's rule for an SQS event source: the queue hides a received message for at least six times
 * the function's timeout, so a batch Lambda retries after a throttle is still hidden while it runs
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). And the function must
 * hold at least one record at its longest; the consumer takes no more than its time allows.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

function checkQueueTiming(
  name: string,
  spec: FunctionSpec,
  trigger: Extract<FunctionSpec['trigger'], { kind: 'queue' }>,
  queueSpec: QueueSpec,
): void {
  const timeoutSeconds = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const visibility = queueSpec.visibilityTimeoutSeconds;
  if (visibility < VISIBILITY_TIMEOUT_FACTOR * timeoutSeconds) {
    throw new Error(
      `queue '${trigger.queue}' visibility timeout (${visibility}s) must be at least ${VISIBILITY_TIMEOUT_FACTOR}x the timeout of its consumer '${name}' (${timeoutSeconds}s, so at least ${VISIBILITY_TIMEOUT_FACTOR * timeoutSeconds}s): https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html`,
    );
  }
  if (!Number.isInteger(trigger.recordSeconds) || trigger.recordSeconds < 1) {
    throw new Error(`consumer '${name}': recordSeconds must be a positive whole number`);
  }
  if (timeoutSeconds < trigger.recordSeconds) {
    throw new Error(
      `consumer '${name}' of queue '${trigger.queue}': its timeout (${timeoutSeconds}s) cannot hold one record (${trigger.recordSeconds}s at its longest)`,
    );
  }
}

/** A stream trigger reads only tables whose stream is on, within Lambda's bounds for streams. */
function checkStreamTriggers(manifest: OnceflowManifest): void {
  for (const [name, spec] of Object.entries(manifest.functions)) {
    const trigger = spec.trigger;
    if (trigger.kind !== 'stream') continue;
    for (const table of trigger.tables) {
      if (!manifest.tables[table]?.stream) {
        throw new Error(`function ${name} reads the stream of table '${table}', which has none`);
      }
    }
    // https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html
    if (
      !Number.isInteger(trigger.batchSize) ||
      trigger.batchSize < 1 ||
      trigger.batchSize > 10_000
    ) {
      throw new Error(`function ${name}: a stream batch is 1 to 10,000 records`);
    }
    if (!Number.isInteger(trigger.retryAttempts) || trigger.retryAttempts < 0) {
      throw new Error(`function ${name}: stream retryAttempts must be bounded (0 or more)`);
    }
  }
}

/** A FIFO queue with two consumers would split its message groups between them. */
function checkQueueConsumers(manifest: OnceflowManifest): void {
  const consumers = new Map<QueueName, string>();
  for (const [name, spec] of Object.entries(manifest.functions)) {
    if (spec.trigger.kind !== 'queue') continue;
    const other = consumers.get(spec.trigger.queue);
    if (other) {
      throw new Error(`queue '${spec.trigger.queue}' has two consumers: ${other} and ${name}`);
    }
    consumers.set(spec.trigger.queue, name);
  }
}

function positiveSeconds(name: string, value: number): string {
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`OnceflowStack: ${name} must be a positive whole number of seconds`);
  }
  return String(value);
}

function lookup<K extends string, V>(record: Readonly<Record<K, V>>, key: K, user: string): V {
  const value = record[key];
  if (value === undefined)
    throw new Error(`function ${user} names '${key}', which the manifest does not declare`);
  return value;
}

function entries<K extends string, V>(record: Readonly<Partial<Record<K, V>>>): Array<[K, V]> {
  return Object.entries(record) as Array<[K, V]>;
}

function mapRecord<K extends string, V, R>(
  record: Readonly<Record<K, V>>,
  map: (key: K, value: V) => R,
): Record<K, R> {
  return Object.fromEntries(
    entries<K, V>(record).map(([key, value]) => [key, map(key, value)]),
  ) as Record<K, R>;
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
