/**
 * Where the ops CLI works: the local runtime (default: DynamoDB Local and the SQS emulator on
 * $DYNAMODB_PORT / $SQS_PORT, the names `npm start` provisions) or a deployed stack (`--stack NAME`:
 * table names and queue URLs from its CloudFormation outputs, with the usual AWS credentials and
 * region). The target is applied to `process.env` the way Lambda sees it, so the store code the
 * live path uses (which reads `ONCEFLOW_TABLE_*`) runs unchanged.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emulatorEnvironment } from '../local/environment.js';
import { localQueue, physicalTableName } from '../local/resources.js';
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

export async function resolveTarget(options: TargetOptions): Promise<Target> {
  if (options.stack) return stackTarget(options.stack);
  const dynamodb = `http://127.0.0.1:${process.env.DYNAMODB_PORT || 8000}`;
  const sqsEndpoint = `http://127.0.0.1:${process.env.SQS_PORT || 9324}`;
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
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  cfn.destroy();
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

function build(
  label: string,
  tables: Record<TableName, string>,
  queues: Record<QueueName, { url: string; dlqUrl: string }>,
): Target {
  for (const t of TABLES) process.env[envNameForTable(t)] = tables[t];
  for (const q of QUEUES) process.env[envNameForQueue(q)] = queues[q].url;
  process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
  // The CLI prints its own report; the store code's metrics and logs would only interleave with it.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
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
