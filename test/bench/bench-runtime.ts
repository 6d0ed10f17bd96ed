/**
 * How every bench starts the local runtime in its own process: DynamoDB Local in memory, the SQS
 * emulator and the simulators on free ports, no schedules (the bench drives the schedule handlers
 * it measures), one poller per queue, runtime lines dropped, and a fresh data directory (the
 * simulators' journals) removed afterwards — so no run sees another's ledger.
 *
 * Importing this module also quiets Powertools (log level ERROR, metrics off) and the SDK's Node
 * version warning, before any handler module is loaded. Handler modules and SDK clients must be
 * imported inside `run`: clients read the runtime's endpoints when they are created.
 *
 *   export default async function myBench(args: string[]) {
 *     await withBenchRuntime(async (runtime) => {
 *       const { ddb } = await import('../../functions/kernel/clients.js');
 *       ... runtime.urls.api, runtime.urls.sim ...
 *     });
 *   }
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalRuntime, LocalRuntimeOptions } from '../../lib/local/runtime.js';

process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** What a bench may change; everything else is the bench default above. */
export type BenchRuntimeOptions = Pick<
  LocalRuntimeOptions,
  'pollersPerQueue' | 'schedules' | 'scheduleSpeed' | 'log' | 'functions'
>;

/** Starts the runtime, runs `run` with it, and always stops it and removes its data directory. */
export async function withBenchRuntime<T>(
  run: (runtime: LocalRuntime) => Promise<T>,
  options: BenchRuntimeOptions = {},
): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-bench-'));
  // The simulators read their journal's directory from the environment the handlers see.
  process.env.ONCEFLOW_DATA_DIR = dataDir;
  const { startLocalRuntime } = await import('../../lib/local/runtime.js');
  const runtime = await startLocalRuntime({
    port: 0,
    simPort: 0,
    dynamodbPort: 0,
    sqsPort: 0,
    dataDir,
    inMemory: true,
    schedules: false,
    pollersPerQueue: 1,
    log: () => {},
    ...options,
  });
  try {
    return await run(runtime);
  } finally {
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
