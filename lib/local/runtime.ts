/**
 * `startLocalRuntime()`: the whole of onceflow on one machine, generated from the manifest.
 * DynamoDB Local (persisted under `<dataDir>/dynamodb`), the SQS emulator, every table and queue
 * provisioned, the HTTP API adapter on PORT, a poller per queue-triggered function, the schedules,
 * and the provider simulators on SIM_PORT. Used by `npm start` and, in-process, by tests.
 *
 * It writes the handlers' environment into `process.env` (see `environment.ts`), so one process
 * runs one runtime at a time.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { campaignSettings } from '../../functions/campaigns/index.js';
import { systemClock } from '../../functions/kernel/clock.js';
import { ConfigurationError, settings } from '../../functions/kernel/config.js';
import { checkVersions, configuredVersions } from '../../functions/kernel/provider-versions.js';
import { ociSettings } from '../../functions/oci/index.js';
import { functions as manifestFunctions } from '../manifest.js';
import { chainRoutes, createDashboard, tapHandlerOutput } from './dashboard.js';
import {
  assertJavaAvailable,
  type DynamoDbLocal,
  reapOrphanedDynamoDbLocal,
  startDynamoDbLocal,
} from './dynamodb-local.js';
import { applyEnvironment, localEnvironment } from './environment.js';
import { createHttpAdapter } from './http-adapter.js';
import { closeServer, listen } from './http-util.js';
import { createHandlerLoader, type LocalFunction } from './lambda.js';
import { createLocalRoutes } from './local-routes.js';
import { assertPortsFree, freePort } from './ports.js';
import { localSqsClient, provision } from './provision.js';
import { type QueuePoller, queueStats, startQueuePoller } from './queue-poller.js';
import { type LocalQueue, localQueue, physicalTableName, queueNames } from './resources.js';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.js';
import { type ScheduledFunction, type Scheduler, startScheduler } from './scheduler.js';
import { createSimulatorServer, type SimulatorServer } from './simulators.js';
import { type SqsEmulator, startSqsEmulator } from './sqs-emulator.js';

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
  /** The variables handlers see (already applied to `process.env`). */
  readonly env: Readonly<Record<string, string>>;
  /** Milliseconds from the call to ready. */
  readonly startupMs: number;
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
    for (const sub of ['dynamodb', 'logs', 'sim'])
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

  const functions = manifestLocalFunctions(urls.sqs);
  const loader = createHandlerLoader({ projectRoot, log });
  const stack: Array<() => Promise<void>> = [];
  let ready = false;
  const runStack = async () => {
    while (stack.length > 0) {
      await stack
        .pop()?.()
        .catch((error: unknown) => log(`[runtime] stop: ${String(error)}`));
    }
  };

  try {
    const dynamodbStarting = startDynamoDbLocal({
      port: ports.DYNAMODB_PORT,
      dbPath: persistent ? join(dataDir, 'dynamodb') : null,
    });
    // Awaited below; until then a failed start must not count as an unhandled rejection.
    dynamodbStarting.catch(() => {});
    stack.push(async () => (await dynamodbStarting.catch(() => null))?.stop());
    // Importing handlers declares their failpoints; it runs while the JVM starts.
    const handlersLoaded = loader.preload(functions.map((f) => f.fn));

    const sqsEmulator: SqsEmulator = await startSqsEmulator({ port: ports.SQS_PORT });
    stack.push(() => sqsEmulator.stop());
    const sqs = localSqsClient(urls.sqs);
    stack.push(async () => sqs.destroy());

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
      loader,
      log,
      isReady: () => ready,
      extraRoutes: chainRoutes(
        dashboard.routes,
        createLocalRoutes({
          handlersLoaded: () => handlersLoaded,
          queueStats: localQueueStats,
          isReady: () => ready,
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

    const pollers: QueuePoller[] = functions.flatMap((f) =>
      f.queue
        ? [
            startQueuePoller({
              sqs,
              queueUrl: f.queue.local.url,
              queueArn: f.queue.local.arn,
              fn: f.fn,
              loader,
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
      loader,
      speed: options.scheduleSpeed,
      log,
    });
    // Handlers in flight finish (bounded by their timeout) unless they take longer than this.
    stack.push(() => settleWithin([scheduler.stop(), ...pollers.map((p) => p.stop())], 3000));
    await handlersLoaded;
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
    startupMs: Math.round(performance.now() - startedAt),
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
 * ConfigurationError, as it would on AWS at the first invocation. The provider API versions are checked against their sunset calendar on the
 * clock seam: one past its sunset (or unknown) stops the start; one within 60 days of it is
 * returned as a warning to print.
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

interface RuntimeFunction {
  readonly fn: LocalFunction;
  readonly queue?: { readonly local: LocalQueue; readonly batchSize: number };
  readonly everySeconds?: number;
}

function manifestLocalFunctions(sqsEndpoint: string): RuntimeFunction[] {
  return Object.entries(manifestFunctions).map(([name, spec]) => {
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
    return { fn };
  });
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
