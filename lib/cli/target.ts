/**
 * Where the ops CLI works: the local runtime (default) or a deployed stack (`--stack NAME`: table
 * names and queue URLs from its CloudFormation outputs, with the usual AWS credentials and region).
 * The target is applied to `process.env` the way Lambda sees it, so the store code the live path
 * uses (which reads `ONCEFLOW_TABLE_*`) runs unchanged.
 *
 * Local ports, first found wins: `DYNAMODB_PORT` / `SQS_PORT` when set; else the ports the running
 * runtime wrote to `<ONCEFLOW_DATA_DIR>/runtime.json` (`.local/` by default); else the defaults
 * (8000, 9324). Both are probed before anything runs, so a runtime that is not up is one sentence
 * ("is `npm start` running?"), not an SDK stack trace.
 */

import { connect } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emulatorEnvironment } from '../local/environment.js';
import { localQueue, physicalTableName } from '../local/resources.js';
import { processAlive, readRuntimeFile, runtimeFilePath } from '../local/runtime-file.js';
import {
  envNameForQueue,
  envNameForTable,
  queues as manifestQueues,
  tables as manifestTables,
  type QueueName,
  type TableName,
} from '../manifest.js';

export interface Target {
  readonly label: string;
  readonly tables: Readonly<Record<TableName, string>>;
  readonly queues: Readonly<Record<QueueName, { url: string; dlqUrl: string }>>;
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  close(): void;
}

export interface TargetOptions {
  readonly stack?: string;
}

const TABLES = Object.keys(manifestTables) as TableName[];
const QUEUES = Object.keys(manifestQueues) as QueueName[];

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/**
 * The CLI prints its own report (`--json`: one JSON document on stdout); the store code's metrics
 * and logs would only interleave with it. Applied before any store module is imported, since
 * Powertools reads these when its logger and metrics are created.
 */
export function quietStoreTelemetry(env: NodeJS.ProcessEnv = process.env): void {
  env.POWERTOOLS_TRACE_ENABLED ??= 'false';
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** A target the CLI cannot use, said in one line (`bin/cli.ts` prints only the message). */
export class TargetUnavailableError extends Error {
  override name = 'TargetUnavailableError';
}

export interface LocalPorts {
  readonly dynamodb: number;
  readonly sqs: number;
  /** Where the ports came from, for the operator. */
  readonly source: string;
}

/** The local runtime's emulator ports: the environment, else its runtime.json, else the defaults. */
export function localPorts(env: NodeJS.ProcessEnv = process.env): LocalPorts {
  const dataDir = env.ONCEFLOW_DATA_DIR || '.local';
  if (env.DYNAMODB_PORT || env.SQS_PORT) {
    return {
      dynamodb: Number(env.DYNAMODB_PORT || 8000),
      sqs: Number(env.SQS_PORT || 9324),
      source: 'DYNAMODB_PORT / SQS_PORT',
    };
  }
  const file = readRuntimeFile(dataDir);
  if (file) {
    const stale = processAlive(file.pid) ? '' : `, written by process ${file.pid}, which is gone`;
    return { ...file.ports, source: `${runtimeFilePath(dataDir)}${stale}` };
  }
  return {
    dynamodb: 8000,
    sqs: 9324,
    source: `defaults: no ${join(dataDir, 'runtime.json')}`,
  };
}

/** Resolves when something accepts a TCP connection on the port, else rejects with the reason. */
function probe(port: number, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error('timed out')));
    socket.once('connect', () => done());
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(new Error(error.code ?? error.message)),
    );
  });
}

export async function resolveTarget(options: TargetOptions): Promise<Target> {
  if (options.stack) return stackTarget(options.stack);
  const ports = localPorts();
  for (const [name, port] of [
    ['DynamoDB', ports.dynamodb],
    ['SQS', ports.sqs],
  ] as const) {
    await probe(port).catch((error: Error) => {
      throw new TargetUnavailableError(
        `cannot reach the local runtime's ${name} on 127.0.0.1:${port} (${error.message}): is \`npm start\` running? (ports DynamoDB ${ports.dynamodb}, SQS ${ports.sqs} from ${ports.source})`,
      );
    });
  }
  const dynamodb = `http://127.0.0.1:${ports.dynamodb}`;
  const sqsEndpoint = `http://127.0.0.1:${ports.sqs}`;
  Object.assign(process.env, emulatorEnvironment(dynamodb, sqsEndpoint));
  const tables = Object.fromEntries(TABLES.map((t) => [t, physicalTableName(t)])) as Record<
    TableName,
    string
  >;
  const queues = Object.fromEntries(
    QUEUES.map((q) => {
      const local = localQueue(q, sqsEndpoint);
      return [q, { url: local.url, dlqUrl: local.dlqUrl }];
    }),
  ) as Record<QueueName, { url: string; dlqUrl: string }>;
  return build(`local runtime (DynamoDB ${dynamodb}, SQS ${sqsEndpoint})`, tables, queues);
}

async function stackTarget(stackName: string): Promise<Target> {
  const { CloudFormationClient, DescribeStacksCommand } = await import(
    '@aws-sdk/client-cloudformation'
  );
  const cfn = new CloudFormationClient({});
  await assertAwsAccess(cfn, stackName);
  const out = await cfn
    .send(new DescribeStacksCommand({ StackName: stackName }))
    .catch((error: Error) => {
      throw new TargetUnavailableError(`--stack ${stackName}: ${oneLine(error.message)}`);
    })
    .finally(() => cfn.destroy());
  const outputs = new Map(
    (out.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
  );
  const need = (key: string) => {
    const value = outputs.get(key);
    if (!value) throw new Error(`stack ${stackName} has no output ${key}`);
    return value;
  };
  const tables = Object.fromEntries(
    TABLES.map((t) => [t, need(`${pascal(t)}TableName`)]),
  ) as Record<TableName, string>;
  const queues = Object.fromEntries(
    QUEUES.map((q) => [
      q,
      { url: need(`${pascal(q)}QueueUrl`), dlqUrl: need(`${pascal(q)}DeadLetterQueueUrl`) },
    ]),
  ) as Record<QueueName, { url: string; dlqUrl: string }>;
  return build(`stack ${stackName}`, tables, queues);
}

const oneLine = (text: string) => text.split('\n')[0]?.trim() ?? '';

/**
 * A deployed stack needs a region and credentials; without them the SDK's own errors are several
 * lines about provider chains. Both are resolved up front and what is missing is said in one line.
 */
async function assertAwsAccess(
  client: { config: { region: () => Promise<string>; credentials: () => Promise<unknown> } },
  stackName: string,
): Promise<void> {
  const missing: string[] = [];
  await client.config.region().catch(() => {
    missing.push('a region (set AWS_REGION, or a profile with a region)');
  });
  await client.config.credentials().catch(() => {
    missing.push(
      'AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
  });
  if (missing.length > 0) {
    throw new TargetUnavailableError(`--stack ${stackName} needs ${missing.join(' and ')}`);
  }
}

function build(
  label: string,
  tables: Record<TableName, string>,
  queues: Record<QueueName, { url: string; dlqUrl: string }>,
): Target {
  for (const t of TABLES) process.env[envNameForTable(t)] = tables[t];
  for (const q of QUEUES) process.env[envNameForQueue(q)] = queues[q].url;
  const client = new DynamoDBClient({});
  const ddb = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const sqs = new SQSClient({});
  return {
    label,
    tables,
    queues,
    ddb,
    sqs,
    close() {
      ddb.destroy();
      sqs.destroy();
    },
  };
}
