/**
 * `startLocalRuntime()`: the whole of onceflow on one machine, generated from the manifest.
 * DynamoDB Local (persisted under `<dataDir>/dynamodb`), the SQS emulator, every table and queue
 * provisioned, the HTTP API adapter on PORT, a poller per queue-triggered function, the schedules,
 * and the provider simulators on SIM_PORT. Used by `npm start` and, in-process, by tests.
 *
 * Every function runs as it is deployed: in a worker thread of its own (`function-host.ts`) with
 * only its template environment (`deployment.ts`, `environment.ts`), every AWS call checked against
 * its role's policy (`aws-gateway.ts`), and — with `ONCEFLOW_RUNTIME=bundles` — from the very
 * bundles `cdk synth` builds (`function-build.ts`). The runtime's own process gets the shared local
 * environment (`environment.ts`), so one process runs one runtime at a time.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import { campaignSettings } from '../../functions/campaigns/index.js';
import { systemClock } from '../../functions/kernel/clock.js';
import { ConfigurationError, settings } from '../../functions/kernel/config.js';
import { checkVersions, configuredVersions } from '../../functions/kernel/provider-versions.js';
import { localSecretValue } from '../../functions/kernel/secrets.js';
import { ociSettings } from '../../functions/oci/index.js';
import { esbuildTargetOf } from '../bundling/handler-bundle.js';
import {
  type FunctionSpec,
  localSettings,
  functions as manifestFunctions,
  type SecretName,
  type TableName,
} from '../manifest.js';
import {
  type AwsCallObserver,
  accessKeyIdFor,
  type GatewaySecret,
  principalArn,
} from './aws-gateway.js';
import { chainRoutes, createDashboard, tapHandlerOutput } from './dashboard.js';
import {
  type DeployedFunction,
  deployedFunctions,
  type LocalResourceNames,
  stackSettingsFromEnvironment,
} from './deployment.js';
import {
  assertJavaAvailable,
  type DynamoDbLocal,
  reapOrphanedDynamoDbLocal,
  startDynamoDbLocal,
} from './dynamodb-local.js';
import { applyEnvironment, functionEnvironment, localEnvironment } from './environment.js';
import {
  type BuiltFunctions,
  buildFunctions,
  type RuntimeMode,
  runtimeModeFrom,
} from './function-build.js';
import { RuntimeControl } from './function-control.js';
import { createFunctionHost, type FunctionHost, type HostedFunction } from './function-host.js';
import { type GatewayHost, startGatewayWorker } from './gateway-host.js';
import { createHttpAdapter, manifestApiRoutes, manifestDefaultRoute } from './http-adapter.js';
import { closeServer, listen } from './http-util.js';
import type { HandlerLoader, LocalFunction } from './lambda.js';
import { createLocalRoutes } from './local-routes.js';
import { assertPortsFree, freePort } from './ports.js';
import { ensureStandardQueue, localSqsClient, provision } from './provision.js';
import { type QueuePoller, queueStats, startQueuePoller } from './queue-poller.js';
import {
  LOCAL_REGION,
  type LocalQueue,
  localQueue,
  localSecret,
  localStreamArnPattern,
  localTableArn,
  physicalTableName,
  queueNames,
  streamDeadLetterQueue,
} from './resources.js';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.js';
import { type ScheduledFunction, type Scheduler, startScheduler } from './scheduler.js';
import { createSimulatorServer, type SimulatorServer } from './simulators.js';
import { type SqsEmulator, startSqsEmulator } from './sqs-emulator.js';
import { type StreamPoller, startStreamPoller } from './stream-poller.js';

/** The project root: where manifest entries (`functions/...`) are resolved. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LocalRuntimeOptions {
  /** API port; 0 picks a free one. @default $PORT or 3000 */
  readonly port?: number;
  /** Simulator port. @default $SIM_PORT or 4010 */
  readonly simPort?: number;
  /** DynamoDB Local port. @default $DYNAMODB_PORT or 8000 */
  readonly dynamodbPort?: number;
  /** SQS emulator port. @default $SQS_PORT or 9324 */
  readonly sqsPort?: number;
  /** Where DynamoDB keeps its file and handlers' logs go. @default $ONCEFLOW_DATA_DIR or `.local` */
  readonly dataDir?: string;
  /** Start from empty data: wipes `<dataDir>/dynamodb` and `<dataDir>/logs`. @default false */
  readonly fresh?: boolean;
  /** Keep DynamoDB in memory (nothing under dataDir). @default false */
  readonly inMemory?: boolean;
  /** Fire every schedule N times as often. @default 1 */
  readonly scheduleSpeed?: number;
  /** Concurrent pollers per queue. @default 2 */
  readonly pollersPerQueue?: number;
  /** Set false to run no schedules (tests that drive schedule handlers themselves). @default true */
  readonly schedules?: boolean;
  /** @default the repository root */
  readonly projectRoot?: string;
  /** Runtime lines (errors of handlers, failed loads). @default stderr */
  readonly log?: (line: string) => void;
  /**
   * What the workers load: the deployed bundles (`bundles`, as `cdk synth` builds them) or a
   * development build of the sources. @default $ONCEFLOW_RUNTIME, else `sources`
   */
  readonly runtime?: RuntimeMode;
  /** The functions to run: a variant of the manifest's, for tests. @default the manifest's */
  readonly functions?: Readonly<Record<string, FunctionSpec>>;
}

export interface LocalRuntimeUrls {
  readonly api: string;
  readonly sim: string;
  readonly dynamodb: string;
  readonly sqs: string;
}

export interface LocalRuntime {
  readonly urls: LocalRuntimeUrls;
  readonly dataDir: string;
  /** Whether DynamoDB keeps its data in `<dataDir>/dynamodb` (false: in memory). */
  readonly persistent: boolean;
  /**
   * The runtime process's own variables (already applied to `process.env`), which in-process tests
   * and benches use; each function sees only its own, in `functionEnvironments`.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Each function's whole `process.env`, by manifest name. */
  readonly functionEnvironments: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly mode: RuntimeMode;
  /** Milliseconds spent building the functions' code (0: all from the cache). */
  readonly buildMs: number;
  /** Milliseconds from the call to ready. */
  readonly startupMs: number;
  /** Reports every AWS call a function makes to `observer` (benches count their cost); unsubscribes. */
  observeAwsCalls(observer: AwsCallObserver): () => void;
  /** Stops everything started; safe to call twice. */
  stop(): Promise<void>;
}

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  const port = raw ? Number(raw) : fallback;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number, got ${raw}`);
  }
  return port;
}

async function orFree(port: number): Promise<number> {
  return port === 0 ? freePort() : port;
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const startedAt = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const projectRoot = options.projectRoot ?? PROJECT_ROOT;
  const dataDir = resolve(options.dataDir ?? (process.env.ONCEFLOW_DATA_DIR || '.local'));
  const persistent = options.inMemory !== true;
  const ports = {
    PORT: await orFree(options.port ?? envPort('PORT', 3000)),
    SIM_PORT: await orFree(options.simPort ?? envPort('SIM_PORT', 4010)),
    DYNAMODB_PORT: await orFree(options.dynamodbPort ?? envPort('DYNAMODB_PORT', 8000)),
    SQS_PORT: await orFree(options.sqsPort ?? envPort('SQS_PORT', 9324)),
  };
  if (persistent && (await reapOrphanedDynamoDbLocal(join(dataDir, 'dynamodb')))) {
    log(`[runtime] stopped a DynamoDB Local left running by an earlier run on ${dataDir}`);
  }
  await assertPortsFree(ports);
  await assertJavaAvailable();
  if (options.fresh) {
    for (const sub of ['dynamodb', 'logs', 'sim', 'streams'])
      rmSync(join(dataDir, sub), { recursive: true, force: true });
  }

  const urls: LocalRuntimeUrls = {
    api: `http://127.0.0.1:${ports.PORT}`,
    sim: `http://127.0.0.1:${ports.SIM_PORT}`,
    dynamodb: `http://127.0.0.1:${ports.DYNAMODB_PORT}`,
    sqs: `http://127.0.0.1:${ports.SQS_PORT}`,
  };
  const env = localEnvironment({
    dynamodbEndpoint: urls.dynamodb,
    sqsEndpoint: urls.sqs,
    apiPort: ports.PORT,
    simPort: ports.SIM_PORT,
  });
  // The simulators keep their provider-side ledgers beside our data (see lib/local/sim/).
  env.ONCEFLOW_DATA_DIR = dataDir;
  applyEnvironment(env);
  for (const warning of checkSettings()) log(`[runtime] warning: ${warning}`);

  const functionSpecs = options.functions ?? manifestFunctions;
  const mode = options.runtime ?? runtimeModeFrom(process.env.ONCEFLOW_RUNTIME);
  // The AWS gateway is internal: only the functions' environments name it.
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const functions = localFunctions(functionSpecs, urls.sqs);
  const stack: Array<() => Promise<void>> = [];
  let ready = false;
  const runStack = async () => {
    while (stack.length > 0) {
      await stack
        .pop()?.()
        .catch((error: unknown) => log(`[runtime] stop: ${String(error)}`));
    }
  };
  let host: FunctionHost | undefined;
  const control = new RuntimeControl((message) => host?.broadcast(message));
  let built: BuiltFunctions | undefined;
  let gateway: GatewayHost | undefined;
  let hosted: HostedFunction[] = [];

  try {
    const dynamodbStarting = startDynamoDbLocal({
      port: ports.DYNAMODB_PORT,
      dbPath: persistent ? join(dataDir, 'dynamodb') : null,
    });
    // Awaited below; until then a failed start must not count as an unhandled rejection.
    dynamodbStarting.catch(() => {});
    stack.push(async () => (await dynamodbStarting.catch(() => null))?.stop());

    // While the JVM starts: what each function is on AWS (from the stack), and its code (both
    // cached by content: a start that changed nothing reads them back).
    const secrets = new Map<SecretName, GatewaySecret>();
    const deployed = await deployedFunctions({
      projectRoot,
      functions: functionSpecs,
      settings: stackSettingsFromEnvironment(process.env),
      names: localNames(gatewayUrl, (name) => {
        const local = localSecret(name);
        secrets.set(name, { ...local, value: () => localSecretValue(name) });
        return { ref: local.arn, arn: local.arn };
      }),
    });
    const functionsBuilt = await buildFunctions({
      mode,
      projectRoot,
      target: esbuildTargetOf(singleRuntime(deployed)),
      entries: Object.fromEntries(
        Object.entries(functionSpecs).map(([name, spec]) => [name, spec.entry]),
      ),
    });
    built = functionsBuilt;
    hosted = hostedFunctions(functions, deployed, functionsBuilt, mode, {
      gatewayUrl,
      simBaseUrl: urls.sim,
    });
    control.install();
    stack.push(async () => control.uninstall());
    host = createFunctionHost({
      workerFile: functionsBuilt.workerFile,
      functions: hosted,
      control,
      log,
    });
    const functionHost = host;
    stack.push(() => functionHost.stop());
    // A function's environment starts at its first invocation, as Lambda's do (a cold start), so
    // start-up costs no function anything. Listing or arming failpoints needs every point declared:
    // that loads every function, once.
    let allLoaded: Promise<void> | undefined;
    const handlersLoaded = () => {
      allLoaded ??= functionHost.preload(functions.map((f) => f.fn)).catch((error: unknown) => {
        log(`[runtime] a function refused to load: ${String(error)}`);
      });
      return allLoaded;
    };

    gateway = await startGatewayWorker({
      workerFile: functionsBuilt.gatewayWorkerFile,
      data: {
        dynamodbEndpoint: urls.dynamodb,
        sqsEndpoint: urls.sqs,
        port: gatewayPort,
        principals: Object.values(deployed).map((d) => ({
          name: d.name,
          arn: principalArn(d.name),
          statements: d.statements,
        })),
        secrets: [...secrets.values()].map((secret) => ({
          name: secret.name,
          arn: secret.arn,
          value: secret.value(),
        })),
      },
      log,
    });
    const awsGateway = gateway;
    stack.push(() => awsGateway.stop());

    const sqsEmulator: SqsEmulator = await startSqsEmulator({ port: ports.SQS_PORT });
    stack.push(() => sqsEmulator.stop());
    const sqs = localSqsClient(urls.sqs);
    stack.push(async () => sqs.destroy());

    // Filled once the queues exist; the clock route reaches them through this.
    let pollers: QueuePoller[] = [];
    const localQueueStats = () =>
      queueStats(
        sqs,
        queueNames().map((q) => localQueue(q, urls.sqs)),
      );
    // The local dashboard reads the handlers' EMF and log lines (see lib/local/dashboard.ts).
    const tap = tapHandlerOutput();
    stack.push(async () => tap.stop());
    const dashboard = createDashboard({
      tap,
      queueStats: localQueueStats,
      dynamodbEndpoint: urls.dynamodb,
      campaignsTable: physicalTableName('campaigns'),
      tenantsTable: physicalTableName('tenants'),
    });
    stack.push(async () => dashboard.close());
    const api = createHttpAdapter({
      loader: functionHost,
      routes: manifestApiRoutes(functionSpecs),
      defaultRoute: manifestDefaultRoute(functionSpecs),
      log,
      isReady: () => ready,
      extraRoutes: chainRoutes(
        dashboard.routes,
        createLocalRoutes({
          handlersLoaded,
          queueStats: localQueueStats,
          isReady: () => ready,
          clockAdvanced: async (seconds) => {
            await Promise.all(pollers.map((poller) => poller.clockAdvanced(seconds)));
          },
        }),
      ),
    });
    await listenOrClose(api, ports.PORT, stack);

    const simulators: SimulatorServer = createSimulatorServer({
      context: {
        apiBaseUrl: urls.api,
        simBaseUrl: urls.sim,
        env: (name) => process.env[name],
        log,
      },
    });
    await listenOrClose(simulators.server, ports.SIM_PORT, stack);
    stack.push(() => simulators.closeModules());

    const dynamodb: DynamoDbLocal = await dynamodbStarting;
    await provision({ dynamodbEndpoint: dynamodb.endpoint, sqsEndpoint: urls.sqs });
    await freeScheduleLeases(dynamodb.endpoint, functionSpecs);

    pollers = functions.flatMap((f) =>
      f.queue
        ? [
            startQueuePoller({
              sqs,
              queueUrl: f.queue.local.url,
              queueArn: f.queue.local.arn,
              fn: f.fn,
              loader: functionHost,
              batchSize: f.queue.batchSize,
              concurrency: options.pollersPerQueue ?? 2,
              log,
            }),
          ]
        : [],
    );
    const scheduled: ScheduledFunction[] = functions.flatMap((f) =>
      f.everySeconds !== undefined && options.schedules !== false
        ? [{ fn: f.fn, everySeconds: f.everySeconds }]
        : [],
    );
    const scheduler: Scheduler = startScheduler({
      schedules: scheduled,
      loader: functionHost,
      speed: options.scheduleSpeed,
      log,
    });
    const streamPollers = await startStreamPollers({
      functions,
      sqs,
      gatewayUrl,
      loader: functionHost,
      dataDir,
      log,
    });
    // Handlers in flight finish (bounded by their timeout) unless they take longer than this.
    stack.push(() =>
      settleWithin(
        [scheduler.stop(), ...pollers.map((p) => p.stop()), ...streamPollers.map((p) => p.stop())],
        3000,
      ),
    );
  } catch (error) {
    await runStack();
    throw error;
  }

  ready = true;
  // The ops CLI finds this runtime's ports here (`lib/cli/target.ts`).
  writeRuntimeFile(dataDir, {
    api: ports.PORT,
    sim: ports.SIM_PORT,
    dynamodb: ports.DYNAMODB_PORT,
    sqs: ports.SQS_PORT,
  });
  stack.push(async () => removeRuntimeFile(dataDir));
  let stopping: Promise<void> | undefined;
  return {
    urls,
    dataDir,
    persistent,
    env,
    functionEnvironments: Object.fromEntries(hosted.map((h) => [h.fn.name, h.env])),
    mode,
    buildMs: built?.buildMs ?? 0,
    startupMs: Math.round(performance.now() - startedAt),
    observeAwsCalls(observer) {
      if (!gateway) throw new Error('the runtime has no AWS gateway');
      return gateway.observe(observer);
    },
    stop() {
      ready = false;
      stopping ??= runStack();
      return stopping;
    },
  };
}

/**
 * Reads every setting (the kernel's and each context's) once, before anything starts, so a bad
 * window (or a window that breaks a guarantee) stops the start with its one-line
 * ConfigurationError, as it would on AWS at the first invocation. The provider API versions are
 * checked against their sunset calendar on the clock seam: one past its sunset (or unknown) stops
 * the start; one within 60 days of it is returned as a warning to print.
 */
export function checkSettings(now = systemClock.now()): string[] {
  for (const group of [settings, campaignSettings, ociSettings]) {
    for (const d of Object.values(Object.getOwnPropertyDescriptors(group))) d.get?.call(group);
  }
  const versions = checkVersions(configuredVersions(process.env), now);
  const [refused] = versions.refused;
  if (refused) throw new ConfigurationError(refused.message);
  return versions.warnings.map((w) => w.message);
}

/**
 * A runtime starting on kept data ends every run of the process before it: a killed process would
 * otherwise hold its schedules' leases (`functions/kernel/schedule.ts`) until they expire, and
 * recovery would wait that long. Each lease lives in one of its function's writable tables.
 */
async function freeScheduleLeases(
  dynamodbEndpoint: string,
  specs: Readonly<Record<string, FunctionSpec>>,
): Promise<void> {
  // A client of this start's DynamoDB Local: the kernel's shared one was made with the endpoint of
  // whichever runtime first imported it in this process (a test may start several in turn).
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  const { localDynamoDbClient } = await import('./provision.js');
  const { freeScheduleLease } = await import('../../functions/kernel/schedule.js');
  const client = DynamoDBDocumentClient.from(localDynamoDbClient(dynamodbEndpoint));
  try {
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.trigger.kind !== 'schedule') continue;
      for (const [table, access] of Object.entries(spec.tables)) {
        if (access !== 'readWrite') continue;
        await freeScheduleLease(client, physicalTableName(table as TableName), name);
      }
    }
  } finally {
    client.destroy();
  }
}

interface RuntimeFunction {
  readonly fn: LocalFunction;
  readonly queue?: { readonly local: LocalQueue; readonly batchSize: number };
  readonly everySeconds?: number;
  readonly stream?: Extract<FunctionSpec['trigger'], { kind: 'stream' }>;
}

/**
 * A stream poller per stream-triggered function (`stream-poller.ts`), reading as the function
 * through the AWS gateway, its checkpoints under `<dataDir>/streams/`, its dead letters in a
 * standard queue of the emulator as on AWS.
 */
async function startStreamPollers(options: {
  readonly functions: readonly RuntimeFunction[];
  readonly sqs: SQSClient;
  readonly gatewayUrl: string;
  readonly loader: HandlerLoader;
  readonly dataDir: string;
  readonly log: (line: string) => void;
}): Promise<StreamPoller[]> {
  const pollers: StreamPoller[] = [];
  for (const { fn, stream } of options.functions) {
    if (!stream) continue;
    const deadLetters = streamDeadLetterQueue(fn.name, options.gatewayUrl);
    await ensureStandardQueue(options.sqs, deadLetters.name);
    const asFunction = {
      endpoint: options.gatewayUrl,
      region: LOCAL_REGION,
      credentials: { accessKeyId: accessKeyIdFor(fn.name), secretAccessKey: 'local' },
    };
    const streams = new DynamoDBStreamsClient(asFunction);
    const sqs = new SQSClient(asFunction);
    const poller = startStreamPoller({
      streams,
      sqs,
      deadLetterQueueUrl: deadLetters.url,
      tables: stream.tables.map((table) => physicalTableName(table)),
      fn,
      loader: options.loader,
      batchSize: stream.batchSize,
      retryAttempts: stream.retryAttempts,
      ...(stream.batchingWindowSeconds
        ? { batchingWindowMs: stream.batchingWindowSeconds * 1000 }
        : {}),
      checkpointFile: join(options.dataDir, 'streams', `${fn.name}.json`),
      log: options.log,
    });
    pollers.push({
      drained: () => poller.drained(),
      async stop() {
        await poller.stop();
        streams.destroy();
        sqs.destroy();
      },
    });
  }
  return pollers;
}

function localFunctions(
  specs: Readonly<Record<string, FunctionSpec>>,
  sqsEndpoint: string,
): RuntimeFunction[] {
  return Object.entries(specs).map(([name, spec]) => {
    const fn: LocalFunction = {
      name,
      entry: spec.entry,
      timeoutSeconds: spec.timeoutSeconds,
      memoryMb: spec.memoryMb,
    };
    const trigger = spec.trigger;
    if (trigger.kind === 'queue') {
      return {
        fn,
        queue: { local: localQueue(trigger.queue, sqsEndpoint), batchSize: trigger.batchSize },
      };
    }
    if (trigger.kind === 'schedule') return { fn, everySeconds: trigger.everySeconds };
    if (trigger.kind === 'stream') return { fn, stream: trigger };
    return { fn };
  });
}

/**
 * How the stack's resources are known to a function locally. Its queue URLs are on the gateway's
 * origin: the SQS client sends a call to its `QueueUrl`'s host, which must be the gateway.
 */
export function localNames(
  gatewayUrl: string,
  secret: LocalResourceNames['secret'] = (name) => {
    const { arn } = localSecret(name);
    return { ref: arn, arn };
  },
): LocalResourceNames {
  const onGateway = (url: string) => url.replace(/^https?:\/\/[^/]+/, gatewayUrl);
  return {
    table: (name) => ({
      ref: physicalTableName(name),
      arn: localTableArn(name),
      streamArn: localStreamArnPattern(name),
    }),
    queue: (name) => {
      const local = localQueue(name, gatewayUrl);
      return { ref: onGateway(local.url), arn: local.arn };
    },
    deadLetterQueue: (name) => {
      const local = localQueue(name, gatewayUrl);
      return { ref: onGateway(local.dlqUrl), arn: local.dlqArn };
    },
    streamDeadLetterQueue: (functionName) => {
      const local = streamDeadLetterQueue(functionName, gatewayUrl);
      return { ref: local.url, arn: local.arn };
    },
    secret,
  };
}

/** Each function as a worker runs it: its module, its whole environment, its Node options. */
function hostedFunctions(
  functions: readonly RuntimeFunction[],
  deployed: Readonly<Record<string, DeployedFunction>>,
  built: BuiltFunctions,
  mode: RuntimeMode,
  urls: { readonly gatewayUrl: string; readonly simBaseUrl: string },
): HostedFunction[] {
  return functions.map(({ fn }) => {
    const function_ = deployed[fn.name];
    const moduleUrl = built.modules[fn.name];
    if (!function_ || !moduleUrl) throw new Error(`function ${fn.name} was not deployed or built`);
    const env = functionEnvironment({
      name: fn.name,
      memoryMb: function_.memoryMb,
      template: function_.environment,
      localSettings: localSettings(function_.spec.environment, urls.simBaseUrl),
      gatewayEndpoint: urls.gatewayUrl,
    });
    return {
      fn: { ...fn, timeoutSeconds: function_.timeoutSeconds, memoryMb: function_.memoryMb },
      moduleUrl,
      env,
      execArgv: workerExecArgv(fn.name, env.NODE_OPTIONS, mode),
    };
  });
}

/** The Lambda runtime every function is deployed on (the bundles are built for it). */
function singleRuntime(deployed: Readonly<Record<string, DeployedFunction>>): string {
  const runtimes = new Set(Object.values(deployed).map((d) => d.runtime));
  const [runtime] = runtimes;
  if (runtimes.size !== 1 || !runtime) {
    throw new Error(
      `the functions are deployed on ${[...runtimes].join(', ')}: expected one runtime`,
    );
  }
  return runtime;
}

/**
 * The worker's Node options: the function's own `NODE_OPTIONS` (what the template sets), and in
 * development source maps, so stack traces name the TypeScript lines. An option Node only takes
 * per process cannot be given to one function here: the start fails rather than ignore it.
 */
function workerExecArgv(
  name: string,
  nodeOptions: string | undefined,
  mode: RuntimeMode,
): string[] {
  const options = (nodeOptions ?? '').split(/\s+/).filter(Boolean);
  const perWorker = new Set(['--enable-source-maps', '--no-warnings', '--no-deprecation']);
  const refused = options.filter((option) => !perWorker.has(option));
  if (refused.length > 0) {
    throw new Error(
      `${name}: NODE_OPTIONS ${refused.join(' ')} cannot be given to one function in the local runtime`,
    );
  }
  if (mode === 'sources' && !options.includes('--enable-source-maps')) {
    options.push('--enable-source-maps');
  }
  return options;
}

async function listenOrClose(
  server: Server,
  port: number,
  stack: Array<() => Promise<void>>,
): Promise<void> {
  await listen(server, port, '127.0.0.1');
  stack.push(() => closeServer(server));
}

/** Waits for all, but no longer than `ms` (stopping must not hang on a slow handler). */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
