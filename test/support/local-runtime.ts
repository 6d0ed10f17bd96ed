/**
 * Starts the local runtime the way a developer does (`tsx bin/local.ts`), as a child process in its
 * own process group, on free ports, and waits until it says it is ready (`GET /_local/ready`).
 * `kill()` signals the whole group (tsx, node, the DynamoDB Local JVM), as a crash or `kill -9`
 * of the tree would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { freePorts } from './free-port.js';
import { pollUntil } from './poll.js';

export interface SpawnLocalRuntimeOptions {
  /** Data directory; a fresh temporary one (removed by `stop`) when omitted. */
  readonly dataDir?: string;
  /** Extra environment for the child (wins over the ports chosen here). */
  readonly env?: Readonly<Record<string, string>>;
  /** Passes `--fresh`. */
  readonly fresh?: boolean;
  /** More command-line arguments, e.g. `['--schedule-speed', '60']`. */
  readonly args?: readonly string[];
  /** @default 40_000 */
  readonly readyTimeoutMs?: number;
}

export interface SpawnedRuntime {
  readonly apiUrl: string;
  readonly simUrl: string;
  readonly dynamodbUrl: string;
  readonly sqsUrl: string;
  readonly ports: { api: number; sim: number; dynamodb: number; sqs: number };
  readonly dataDir: string;
  readonly pid: number;
  /** Milliseconds from spawn to `/_local/ready` answering 200. */
  readonly readyMs: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit of the tsx process. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the whole process group; resolves when the tsx process has exited. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ctrl-C (SIGINT to the group), SIGKILL after 15 s; removes a temporary data dir. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) signalGroup(child, 'SIGKILL');
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** The tsx command line, run with this node so PATH does not matter. */
export function tsxCommand(script: string): { command: string; args: string[] } {
  const cli = createRequire(import.meta.url).resolve('tsx/cli');
  return { command: process.execPath, args: [cli, script] };
}

export async function spawnLocalRuntime(
  options: SpawnLocalRuntimeOptions = {},
): Promise<SpawnedRuntime> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'onceflow-e2e-'));
  const [api = 0, sim = 0, dynamodb = 0, sqs = 0] = await freePorts(4);
  const { command, args } = tsxCommand('bin/local.ts');
  const startedAt = Date.now();
  const child = spawn(
    command,
    [...args, ...(options.fresh ? ['--fresh'] : []), ...(options.args ?? [])],
    {
      cwd: PROJECT_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(api),
        SIM_PORT: String(sim),
        DYNAMODB_PORT: String(dynamodb),
        SQS_PORT: String(sqs),
        ONCEFLOW_DATA_DIR: dataDir,
        ...options.env,
      },
    },
  );
  live.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );

  const apiUrl = `http://127.0.0.1:${api}`;
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });
  try {
    await pollUntil(
      async () => {
        if (exitedEarly) throw new Error('exited');
        const response = await fetch(`${apiUrl}/_local/ready`);
        return response.status === 200;
      },
      {
        timeoutMs: options.readyTimeoutMs ?? 40_000,
        intervalMs: 100,
        description: 'the local runtime to be ready',
      },
    );
  } catch (error) {
    signalGroup(child, 'SIGKILL');
    await exited;
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `local runtime did not start (${error instanceof Error ? error.message : String(error)}):\n${output}`,
    );
  }
  const readyMs = Date.now() - startedAt;

  async function kill(signal: NodeJS.Signals = 'SIGKILL') {
    signalGroup(child, signal);
    return exited;
  }

  return {
    apiUrl,
    simUrl: `http://127.0.0.1:${sim}`,
    dynamodbUrl: `http://127.0.0.1:${dynamodb}`,
    sqsUrl: `http://127.0.0.1:${sqs}`,
    ports: { api, sim, dynamodb, sqs },
    dataDir,
    pid: child.pid ?? -1,
    readyMs,
    output: () => output,
    exited,
    kill,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGINT');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // The JVM may outlive a SIGINT'ed tsx by a moment; make sure the group is gone.
      signalGroup(child, 'SIGKILL');
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
