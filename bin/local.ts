/**
 * `npm start`: the local runtime (see `lib/local/runtime.ts`).
 *
 *   npm start -- [--fresh] [--schedule-speed N] [--logs-to-console]
 *
 * Ports and data from PORT (3000), SIM_PORT (4010), DYNAMODB_PORT (8000), SQS_PORT (9324) and
 * ONCEFLOW_DATA_DIR (.local). Stops cleanly on SIGINT / SIGTERM.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assertSafeReconcileWindow } from '../functions/campaigns/index.js';
import { JavaMissingError } from '../lib/local/dynamodb-local.js';
import { captureProcessOutput } from '../lib/local/output.js';
import { PortInUseError } from '../lib/local/ports.js';
import { startLocalRuntime } from '../lib/local/runtime.js';

const USAGE = 'usage: npm start -- [--fresh] [--schedule-speed N] [--logs-to-console]';

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

let args: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    options: {
      fresh: { type: 'boolean', default: false },
      'schedule-speed': { type: 'string', default: '1' },
      'logs-to-console': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
}
try {
  args = parseOptions();
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const scheduleSpeed = Number(args['schedule-speed']);
if (!Number.isFinite(scheduleSpeed) || scheduleSpeed <= 0) {
  fail(`--schedule-speed must be a positive number\n${USAGE}`);
}

// Settings that would break the at-most-once promise are refused before anything starts.
try {
  assertSafeReconcileWindow();
} catch (error) {
  fail(`onceflow: ${(error as Error).message}`);
}

// A closed terminal or pipe must not crash the runtime before it stops its children.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const dataDir = process.env.ONCEFLOW_DATA_DIR || '.local';
const logFile = join(dataDir, 'logs', 'onceflow.log');
const output = args['logs-to-console'] ? undefined : captureProcessOutput(logFile);
const print = output?.print ?? ((line: string) => process.stdout.write(`${line}\n`));
const printError = output?.printError ?? ((line: string) => process.stderr.write(`${line}\n`));

let runtime: Awaited<ReturnType<typeof startLocalRuntime>>;
try {
  runtime = await startLocalRuntime({
    dataDir,
    fresh: args.fresh,
    scheduleSpeed,
    log: printError,
  });
} catch (error) {
  output?.restore();
  if (error instanceof JavaMissingError) {
    fail(
      'onceflow: DynamoDB Local needs Java: install Java 17 (e.g. apt-get install -y default-jre-headless)',
    );
  }
  if (error instanceof PortInUseError) fail(`onceflow: ${error.message}`);
  fail(`onceflow: cannot start: ${error instanceof Error ? error.message : String(error)}`);
}

print(`onceflow local runtime${args.fresh ? ' (fresh data)' : ''}`);
print(`  API             ${runtime.urls.api}`);
print(`  simulators      ${runtime.urls.sim}`);
print(`  DynamoDB Local  ${runtime.urls.dynamodb}`);
print(`  SQS emulator    ${runtime.urls.sqs}`);
print(`  data            ${runtime.dataDir}`);
print(`  handler logs    ${output ? logFile : 'console'}`);
if (scheduleSpeed !== 1) print(`  schedules       ${scheduleSpeed}x`);
print(`ready in ${(runtime.startupMs / 1000).toFixed(1)} s (Ctrl-C to stop)`);

let stopRequestedAt: number | undefined;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopRequestedAt !== undefined) {
    // Ctrl-C reaches both tsx and this process, and tsx may relay it again: only a later,
    // deliberate second Ctrl-C means "stop waiting".
    if (Date.now() - stopRequestedAt > 1000) process.exit(130);
    return;
  }
  stopRequestedAt = Date.now();
  print(`${signal}: stopping`);
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await runtime.stop();
  output?.restore();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

// Under `npm start` this process is tsx's child; if tsx is killed outright, do not live on as an
// orphan holding the ports.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) void shutdown('SIGHUP');
}, 1000).unref();
