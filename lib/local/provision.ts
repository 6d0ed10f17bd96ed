/**
 * Creates the manifest's tables and queues in DynamoDB Local and the SQS emulator, the way the CDK
 * stack creates them on AWS: same keys, indexes, TTL attribute, FIFO queues with a FIFO dead-letter
 * queue, the same visibility timeout and redrive count. Idempotent: existing tables keep their data
 * (missing indexes are added), existing queues get their attributes set again.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { queues, type TableSpec, tables } from '../manifest.js';
import { emulatorEnvironment } from './environment.js';
import {
  DEFAULT_PREFIX,
  LOCAL_REGION,
  type LocalQueue,
  localQueue,
  physicalTableName,
  queueNames,
  resourceEnvironment,
  tableNames,
} from './resources.js';

export interface ProvisionOptions {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  /** Physical names are `<prefix>-<table>` and `<prefix>-<queue>.fifo`. @default 'onceflow' */
  readonly prefix?: string;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

export function localSqsClient(endpoint: string): SQSClient {
  return new SQSClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

/**
 * Provisions every manifest table and queue and returns the environment handlers need to find
 * them (endpoints, region, dummy credentials, `ONCEFLOW_TABLE_*`, `ONCEFLOW_QUEUE_*_URL`, the
 * local flags). Safe to call again on the same emulators.
 */
export async function provision(options: ProvisionOptions): Promise<Record<string, string>> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const dynamodb = localDynamoDbClient(options.dynamodbEndpoint);
  const sqs = localSqsClient(options.sqsEndpoint);
  try {
    await Promise.all([
      ...tableNames().map((table) =>
        ensureTable(dynamodb, physicalTableName(table, prefix), tables[table]),
      ),
      ...queueNames().map((queue) =>
        ensureFifoQueue(sqs, localQueue(queue, options.sqsEndpoint, prefix), queues[queue]),
      ),
    ]);
  } finally {
    dynamodb.destroy();
    sqs.destroy();
  }
  return {
    ...emulatorEnvironment(options.dynamodbEndpoint, options.sqsEndpoint),
    ...resourceEnvironment(options.sqsEndpoint, prefix),
  };
}

// The manifest does not type key attributes; every key is a string (ids, ISO times), as in the stack.
function keyAttributes(spec: TableSpec): AttributeDefinition[] {
  const names = new Set<string>([spec.partitionKey]);
  if (spec.sortKey) names.add(spec.sortKey);
  for (const index of spec.indexes) {
    names.add(index.partitionKey);
    names.add(index.sortKey);
  }
  return [...names].map((AttributeName) => ({ AttributeName, AttributeType: 'S' }));
}

/** A manifest index as DynamoDB's CreateTable takes it (the stack must synthesize the same). */
export function globalIndex(index: TableSpec['indexes'][number]): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: 'HASH' },
      { AttributeName: index.sortKey, KeyType: 'RANGE' },
    ],
    Projection: {
      ProjectionType: index.projection ?? 'ALL',
      ...(index.projection === 'INCLUDE'
        ? { NonKeyAttributes: [...(index.nonKeyAttributes ?? [])] }
        : {}),
    },
  };
}

/** Creates the table unless it exists; adds indexes the manifest gained since; enables TTL. */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  spec: TableSpec,
): Promise<void> {
  const existing = await describeTable(client, tableName);
  const existingIndexes = existing?.indexes ?? null;
  const stream = spec.stream
    ? { StreamSpecification: { StreamEnabled: true, StreamViewType: spec.stream } }
    : {};
  if (existingIndexes === null) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: keyAttributes(spec),
          KeySchema: [
            { AttributeName: spec.partitionKey, KeyType: 'HASH' },
            ...(spec.sortKey ? [{ AttributeName: spec.sortKey, KeyType: 'RANGE' as const }] : []),
          ],
          ...(spec.indexes.length > 0
            ? { GlobalSecondaryIndexes: spec.indexes.map(globalIndex) }
            : {}),
          ...stream,
        }),
      );
    } catch (error) {
      // Another provisioner won the race: same spec, nothing to do.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  } else {
    for (const index of spec.indexes.filter((i) => !existingIndexes.includes(i.name))) {
      await client.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: keyAttributes(spec),
          GlobalSecondaryIndexUpdates: [{ Create: globalIndex(index) }],
        }),
      );
    }
    // A table kept from before its change feed was declared gets its stream now (the change feed
    // reads it from its oldest record on: what was written before has no stream record).
    if (spec.stream && !existing?.streamEnabled) {
      await client.send(new UpdateTableCommand({ TableName: tableName, ...stream }));
    }
  }
  await ensureTimeToLive(client, tableName, spec.ttlAttribute);
}

async function describeTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<{ indexes: string[]; streamEnabled: boolean } | null> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return {
      indexes: (Table?.GlobalSecondaryIndexes ?? []).flatMap((index) =>
        index.IndexName ? [index.IndexName] : [],
      ),
      streamEnabled: Table?.StreamSpecification?.StreamEnabled === true,
    };
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return null;
    throw error;
  }
}

async function ensureTimeToLive(
  client: DynamoDBClient,
  tableName: string,
  attribute: string,
): Promise<void> {
  const { TimeToLiveDescription } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const status = TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
    }),
  );
}

export interface FifoQueueSettings {
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

/** As in the stack: high-throughput FIFO, no content-based deduplication. */
const FIFO_ATTRIBUTES = {
  FifoQueue: 'true',
  ContentBasedDeduplication: 'false',
  DeduplicationScope: 'messageGroup',
  FifoThroughputLimit: 'perMessageGroupId',
} as const;

/**
 * Creates (or re-applies) a FIFO queue and its FIFO dead-letter queue. No content-based
 * deduplication: every sender must pass a deterministic `MessageDeduplicationId`.
 */
export async function ensureFifoQueue(
  client: SQSClient,
  queue: Pick<LocalQueue, 'name' | 'url' | 'dlqName' | 'dlqUrl' | 'dlqArn'>,
  settings: FifoQueueSettings,
): Promise<void> {
  await createOrUpdateQueue(client, queue.dlqName, queue.dlqUrl, {
    ...FIFO_ATTRIBUTES,
    // The longest SQS allows: a dead letter waits for a human.
    MessageRetentionPeriod: '1209600',
  });
  await createOrUpdateQueue(client, queue.name, queue.url, {
    ...FIFO_ATTRIBUTES,
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: queue.dlqArn,
      maxReceiveCount: settings.maxReceiveCount,
    }),
  });
}

/** A standard queue (a stream trigger's on-failure destination), kept as long as SQS allows. */
export async function ensureStandardQueue(client: SQSClient, name: string): Promise<void> {
  await client.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { MessageRetentionPeriod: '1209600' } }),
  );
}

async function createOrUpdateQueue(
  client: SQSClient,
  name: string,
  url: string,
  attributes: Record<string, string>,
): Promise<void> {
  try {
    await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  } catch (error) {
    // Same name, other attributes (the manifest changed): apply the new ones.
    if (!(error instanceof QueueNameExists)) throw error;
    const { FifoQueue: _fifo, ...mutable } = attributes;
    await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: mutable }));
  }
}
