/**
 * The local runtime's AWS gateway refuses, as IAM would, every call a function's role does not
 * allow — with the error the real SDK raises for AWS's own answer — and lets every allowed call
 * through to DynamoDB Local and the SQS emulator. The roles are the stack's (`deployedFunctions`
 * reads their synthesized policies); the clients are the real SDK clients, signed with a
 * function's local credentials, as the function's own would be.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localSecretValue } from '../../../functions/kernel/secrets.js';
import {
  type AwsGateway,
  accessKeyIdFor,
  createAwsGateway,
  principalArn,
} from '../../../lib/local/aws-gateway.js';
import { type DeployedFunction, deployedFunctions } from '../../../lib/local/deployment.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { LOCAL_REGION, localQueue, localSecret } from '../../../lib/local/resources.js';
import { localNames, PROJECT_ROOT } from '../../../lib/local/runtime.js';
import { emulatorEndpoints, testSqsClient } from '../../support/emulators.js';

let gateway: AwsGateway;
let endpoint: string;
let deployed: Record<string, DeployedFunction>;

beforeAll(async () => {
  const { dynamodb, sqs } = emulatorEndpoints();
  // The roles' statements name ARNs only: the gateway's URL (in the queue URLs) does not change them.
  deployed = await deployedFunctions({
    projectRoot: PROJECT_ROOT,
    names: localNames('http://127.0.0.1:1'),
  });
  gateway = createAwsGateway({
    dynamodbEndpoint: dynamodb,
    sqsEndpoint: sqs,
    principals: Object.values(deployed).map((d) => ({
      name: d.name,
      arn: principalArn(d.name),
      statements: d.statements,
    })),
    secrets: (['adminKeyHash', 'whatsappAccessToken'] as const).map((name) => ({
      ...localSecret(name),
      value: () => localSecretValue(name),
    })),
    log: () => {},
  });
  await listen(gateway.server, 0, '127.0.0.1');
  endpoint = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await closeServer(gateway.server);
  gateway.close();
});

/** The credentials and endpoint a function's environment gives its SDK clients. */
function asFunction(name: string) {
  return {
    endpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: accessKeyIdFor(name), secretAccessKey: 'local' },
    maxAttempts: 1,
  };
}

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('the call was allowed');
}

const campaignsTable = 'onceflow-campaigns';
const key = { pk: { S: 'GATEWAY#probe' }, sk: { S: 'PROBE' } };

describe('DynamoDB', () => {
  it('a read grant allows reads, index queries included, and refuses every write', async () => {
    // Prepare: getCampaign holds the campaigns table read-only.
    expect(deployed.getCampaign?.spec.tables.campaigns).toBe('read');
    const ddb = new DynamoDBClient(asFunction('getCampaign'));

    // Act / Assess: reads pass through to DynamoDB Local.
    await expect(
      ddb.send(new GetItemCommand({ TableName: campaignsTable, Key: key })),
    ).resolves.toBeDefined();
    await expect(
      ddb.send(
        new QueryCommand({
          TableName: campaignsTable,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': { S: 'none' } },
        }),
      ),
    ).resolves.toMatchObject({ Count: 0 });

    // Every way to write is refused, as IAM refuses it.
    const writes: Array<[string, () => Promise<unknown>]> = [
      ['PutItem', () => ddb.send(new PutItemCommand({ TableName: campaignsTable, Item: key }))],
      [
        'UpdateItem',
        () =>
          ddb.send(
            new UpdateItemCommand({
              TableName: campaignsTable,
              Key: key,
              UpdateExpression: 'SET a = :a',
              ExpressionAttributeValues: { ':a': { S: 'x' } },
            }),
          ),
      ],
      [
        'DeleteItem',
        () => ddb.send(new DeleteItemCommand({ TableName: campaignsTable, Key: key })),
      ],
      [
        'BatchWriteItem',
        () =>
          ddb.send(
            new BatchWriteItemCommand({
              RequestItems: { [campaignsTable]: [{ PutRequest: { Item: key } }] },
            }),
          ),
      ],
      [
        'PutItem',
        () =>
          ddb.send(
            new TransactWriteItemsCommand({
              TransactItems: [{ Put: { TableName: campaignsTable, Item: key } }],
            }),
          ),
      ],
    ];
    for (const [action, write] of writes) {
      const error = await failure(write());
      expect(error.name).toBe('AccessDeniedException');
      expect((error.$metadata as { httpStatusCode?: number }).httpStatusCode).toBe(400);
      expect(error.message).toBe(
        `User: arn:aws:sts::000000000000:assumed-role/onceflow-getCampaign-role/onceflow-getCampaign is not authorized to perform: dynamodb:${action} on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${campaignsTable} because no identity-based policy allows the dynamodb:${action} action`,
      );
    }
  });

  it('a transaction is refused when one item is on a table the function may only read', async () => {
    // Prepare: createCampaign writes campaigns, reads tenants.
    const ddb = new DynamoDBClient(asFunction('createCampaign'));

    // Act
    const error = await failure(
      ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: campaignsTable, Item: key } },
            { Put: { TableName: 'onceflow-tenants', Item: key } },
          ],
        }),
      ),
    );

    // Assess: IAM names the item it refused; the allowed one was not written either.
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain(
      'dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/onceflow-tenants',
    );
    const read = await ddb.send(new GetItemCommand({ TableName: campaignsTable, Key: key }));
    expect(read.Item).toBeUndefined();
  });

  it('a table the function has no grant on is refused even for a read', async () => {
    const error = await failure(
      new DynamoDBClient(asFunction('getCampaign')).send(
        new GetItemCommand({ TableName: 'onceflow-ledger', Key: key }),
      ),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain(
      'dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/onceflow-ledger',
    );
  });
});

describe('SQS', () => {
  const onGateway = (queue: 'jobs' | 'fanout') => localQueue(queue, endpoint).url;

  it('a queue the function is bound to takes its messages; another refuses them (AccessDenied)', async () => {
    // Prepare
    const admin = testSqsClient();
    const fanout = localQueue('fanout', emulatorEndpoints().sqs).url;
    await admin.send(new PurgeQueueCommand({ QueueUrl: fanout })).catch(() => undefined);

    // Act: changeCampaignState may send to fanout; processJob may send to no queue.
    await new SQSClient(asFunction('changeCampaignState')).send(
      new SendMessageCommand({
        QueueUrl: onGateway('fanout'),
        MessageBody: 'gateway-probe',
        MessageGroupId: 'g',
        MessageDeduplicationId: `probe-${Date.now()}`,
      }),
    );
    const jobs = new SQSClient(asFunction('processJob'));
    const single = await failure(
      jobs.send(
        new SendMessageCommand({
          QueueUrl: onGateway('jobs'),
          MessageBody: 'x',
          MessageGroupId: 'g',
          MessageDeduplicationId: 'refused',
        }),
      ),
    );
    const batch = await failure(
      jobs.send(
        new SendMessageBatchCommand({
          QueueUrl: onGateway('jobs'),
          Entries: [
            { Id: '1', MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'b' },
          ],
        }),
      ),
    );

    // Assess: the allowed message reached the emulator's queue.
    const received = await admin.send(
      new ReceiveMessageCommand({ QueueUrl: fanout, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }),
    );
    expect(received.Messages?.map((m) => m.Body)).toContain('gateway-probe');
    // SQS's JSON protocol answers AccessDeniedException with the query-compatible code AccessDenied,
    // which the SDK names the error by; a batch is authorized as sqs:SendMessage.
    for (const error of [single, batch]) {
      expect(error.name).toBe('AccessDenied');
      expect(error.message).toContain(
        'sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:onceflow-jobs.fifo',
      );
    }
  });
});

describe('Secrets Manager', () => {
  it('a function reads the secrets it is granted, and only those', async () => {
    // Prepare: putTenant is granted the admin key hash; receiveWhatsAppWeb no secret at all.
    const arn = localSecret('adminKeyHash').arn;
    expect(deployed.putTenant?.environment.ONCEFLOW_SECRET_ADMIN_KEY_HASH).toBe(arn);

    // Act
    const granted = await new SecretsManagerClient(asFunction('putTenant')).send(
      new GetSecretValueCommand({ SecretId: arn }),
    );
    const refused = await failure(
      new SecretsManagerClient(asFunction('receiveWhatsAppWeb')).send(
        new GetSecretValueCommand({ SecretId: arn }),
      ),
    );

    // Assess
    const adminKey = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';
    expect(granted.SecretString).toBe(createHash('sha256').update(adminKey).digest('hex'));
    expect(refused.name).toBe('AccessDeniedException');
    expect(refused.message).toContain(`secretsmanager:GetSecretValue on resource: ${arn}`);
  });
});

describe('DynamoDB Streams', () => {
  it("the change feed reads the effects' streams as its role allows; a function without the grant is refused", async () => {
    // Prepare: the integration emulators' tables carry the manifest's streams.
    const asFeed = new DynamoDBStreamsClient(asFunction('changeFeed'));
    const asReader = new DynamoDBStreamsClient(asFunction('getCampaign'));

    // Act
    const listed = await asFeed.send(new ListStreamsCommand({ TableName: campaignsTable }));
    const streamArn = listed.Streams?.[0]?.StreamArn ?? '';
    const described = await asFeed.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const shardId = described.StreamDescription?.Shards?.[0]?.ShardId;
    const iterator = await asFeed.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: 'LATEST',
      }),
    );
    const records = await asFeed.send(
      new GetRecordsCommand({ ShardIterator: iterator.ShardIterator }),
    );
    const refusedDescribe = await failure(
      asReader.send(new DescribeStreamCommand({ StreamArn: streamArn })),
    );
    const refusedRecords = await failure(
      asReader.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator })),
    );

    // Assess
    expect(streamArn).toMatch(
      /^arn:aws:dynamodb:ddblocal:000000000000:table\/onceflow-campaigns\/stream\//,
    );
    expect(records.Records).toBeDefined();
    for (const refused of [refusedDescribe, refusedRecords]) {
      expect(refused.name).toBe('AccessDeniedException');
      expect(refused.message).toContain(`on resource: ${streamArn}`);
    }
    asFeed.destroy();
    asReader.destroy();
  });
});

it('credentials of no function are refused', async () => {
  const error = await failure(
    new DynamoDBClient({ ...asFunction('nobody') }).send(
      new GetItemCommand({ TableName: campaignsTable, Key: key }),
    ),
  );
  expect(error.name).toBe('UnrecognizedClientException');
});
