/**
 * Physical names of the manifest's tables and queues in the local emulators, and the environment
 * variables that carry them to handlers (the same variables the CDK stack sets on AWS).
 */
import {
  envNameForQueue,
  envNameForTable,
  type QueueName,
  queueResourceName,
  queues,
  type SecretName,
  type TableName,
  tables,
} from '../manifest.js';

export const LOCAL_REGION = 'us-east-1';
/** The account id fauxqs puts in every queue URL and ARN. */
export const LOCAL_ACCOUNT_ID = '000000000000';
export const DEFAULT_PREFIX = 'onceflow';

export interface LocalQueue {
  readonly queue: QueueName;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly dlqName: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
}

export function physicalTableName(table: TableName, prefix = DEFAULT_PREFIX): string {
  return `${prefix}-${table}`;
}

/** The ARN IAM knows a local table by (its indexes are `<arn>/index/<name>`). */
export function localTableArn(table: TableName, prefix = DEFAULT_PREFIX): string {
  return `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:table/${physicalTableName(table, prefix)}`;
}

/**
 * What a table's `StreamArn` stands for locally: any stream of the table. DynamoDB Local names its
 * streams `arn:aws:dynamodb:ddblocal:000000000000:table/<name>/stream/<label>`, the label the time
 * the stream was turned on (checked in `test/integration/events/local-streams.test.ts`); on AWS the
 * template names the one stream the table has, with its own label.
 */
export function localStreamArnPattern(table: TableName, prefix = DEFAULT_PREFIX): string {
  return `arn:aws:dynamodb:ddblocal:${LOCAL_ACCOUNT_ID}:table/${physicalTableName(table, prefix)}/stream/*`;
}

/** A stream-triggered function's on-failure queue (a standard queue, as on AWS). */
export function streamDeadLetterQueue(
  functionName: string,
  sqsEndpoint: string,
  prefix = DEFAULT_PREFIX,
): { name: string; url: string; arn: string } {
  const name = `${prefix}-${functionName}-stream-dlq`;
  return { name, url: localQueueUrl(sqsEndpoint, name), arn: localQueueArn(name) };
}

/**
 * A secret's local name and ARN. Secrets Manager ends every ARN with `-` and six random characters;
 * locally they are fixed, so the ARN is the same on every run.
 */
export function localSecret(
  secret: SecretName,
  prefix = DEFAULT_PREFIX,
): { name: string; arn: string } {
  const name = `${prefix}-${secret}`;
  return {
    name,
    arn: `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:secret:${name}-000000`,
  };
}

export function deadLetterQueueName(queue: QueueName, prefix = DEFAULT_PREFIX): string {
  return `${prefix}-${queue}-dlq.fifo`;
}

/**
 * Queue URLs are path-style on the emulator's own origin, e.g.
 * `http://127.0.0.1:9324/000000000000/onceflow-jobs.fifo` (see `sqs-emulator.ts` for why).
 */
export function localQueueUrl(sqsEndpoint: string, name: string): string {
  return `${sqsEndpoint.replace(/\/$/, '')}/${LOCAL_ACCOUNT_ID}/${name}`;
}

export function localQueueArn(name: string): string {
  return `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
}

export function tableNames(): TableName[] {
  return Object.keys(tables) as TableName[];
}

export function queueNames(): QueueName[] {
  return Object.keys(queues) as QueueName[];
}

export function localQueue(
  queue: QueueName,
  sqsEndpoint: string,
  prefix = DEFAULT_PREFIX,
): LocalQueue {
  return {
    queue,
    ...fifoQueuePair(
      queueResourceName(queue, prefix),
      deadLetterQueueName(queue, prefix),
      sqsEndpoint,
    ),
  };
}

/** URLs and ARNs of a FIFO queue and its dead-letter queue, by their physical names. */
export function fifoQueuePair(
  name: string,
  dlqName: string,
  sqsEndpoint: string,
): Omit<LocalQueue, 'queue'> {
  return {
    name,
    url: localQueueUrl(sqsEndpoint, name),
    arn: localQueueArn(name),
    dlqName,
    dlqUrl: localQueueUrl(sqsEndpoint, dlqName),
    dlqArn: localQueueArn(dlqName),
  };
}

/** Table-name and queue-URL variables for every manifest resource. */
export function resourceEnvironment(
  sqsEndpoint: string,
  prefix = DEFAULT_PREFIX,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const table of tableNames()) env[envNameForTable(table)] = physicalTableName(table, prefix);
  for (const queue of queueNames())
    env[envNameForQueue(queue)] = localQueue(queue, sqsEndpoint, prefix).url;
  return env;
}
