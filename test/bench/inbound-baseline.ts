/**
 * The benchmark's baseline: the usual way to make a webhook idempotent, a plain handler wrapped in
 * Powertools Idempotency (DynamoDB persistence layer, keyed by the wamid). The plain handler does
 * the same work as onceflow's (tenant lookup, conversation routing, message, conversation counter,
 * two job items, one SQS batch) but as separate writes, since the idempotency record is its dedupe.
 * Its items live under `BL#` keys so they never meet onceflow's. Served over the runtime's HTTP
 * adapter at `POST /bench/baseline/whatsapp`; never deployed.
 *
 * Its job consumer (`consumeBaselineJob`) is made idempotent the same way, per queue record (SQS
 * FIFO may deliver a record twice): Powertools Idempotency keyed by the job, around one update of
 * the job item to `done`. The job's own work is left out, as it is from onceflow's consumer in the
 * bench: only the bookkeeping that makes a job run once is counted.
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { identifyPerson } from '../../functions/conversations/identity.js';
import { ddb, dynamodbClient, sqs } from '../../functions/kernel/clients.js';
import { tableName } from '../../functions/kernel/config.js';
import { UnauthorizedError } from '../../functions/kernel/errors.js';
import { enqueueFifo } from '../../functions/kernel/fifo.js';
import {
  type HttpResponse,
  header,
  httpHandler,
  parseJsonBody,
} from '../../functions/kernel/http.js';
import { platformSecret } from '../../functions/kernel/secrets.js';
import { withTelemetry } from '../../functions/kernel/telemetry.js';
import { verifyHubSignature } from '../../functions/kernel/webhook-signature.js';
import { cloudWebhookSchema, messageText } from '../../functions/webhooks/whatsapp-cloud.js';
import { testTenantStore } from '../support/tenant-store.js';

let persistenceStore: DynamoDBPersistenceLayer | undefined;

function idempotent() {
  persistenceStore ??= new DynamoDBPersistenceLayer({
    tableName: tableName('idempotency'),
    awsSdkV3Client: dynamodbClient,
  });
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', expiresAfterSeconds: 24 * 3600 });
  // As the kernel's Idempotency-Key does: the in-progress record expires with the invocation.
  config.registerLambdaContext({ getRemainingTimeInMillis: () => 30_000 } as Context);
  return makeIdempotent(async (_call: { key: string }, run: () => Promise<HttpResponse>) => run(), {
    persistenceStore,
    config,
  });
}

let jobIdempotent: ((ring: { key: string }) => Promise<void>) | undefined;

/** One job ring of the baseline's queue: `{ messageId, type }`. */
export function consumeBaselineJob(ring: { messageId: string; type: string }): Promise<void> {
  if (!jobIdempotent) {
    persistenceStore ??= new DynamoDBPersistenceLayer({
      tableName: tableName('idempotency'),
      awsSdkV3Client: dynamodbClient,
    });
    const config = new IdempotencyConfig({
      eventKeyJmesPath: 'key',
      expiresAfterSeconds: 24 * 3600,
    });
    config.registerLambdaContext({ getRemainingTimeInMillis: () => 30_000 } as Context);
    jobIdempotent = makeIdempotent(
      async (call: { key: string }) => {
        const [messageId, type] = call.key.split('|');
        await ddb.send(
          new UpdateCommand({
            TableName: tableName('inbound'),
            Key: { pk: messageId, sk: `JOB#${type}` },
            UpdateExpression: 'SET #status = :done, updatedAt = :now',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':done': 'done', ':now': new Date().toISOString() },
          }),
        );
      },
      { persistenceStore, config },
    );
  }
  const run = jobIdempotent;
  return withTelemetry({ source: `background_job:baseline_${ring.type}` }, () =>
    run({ key: `${ring.messageId}|${ring.type}` }),
  );
}

export const handler = httpHandler(async (request) => {
  const secret = await platformSecret('whatsappAppSecret');
  if (!verifyHubSignature(request.rawBody, header(request, 'x-hub-signature-256'), secret)) {
    throw new UnauthorizedError();
  }
  const payload = parseJsonBody(request, cloudWebhookSchema);
  const value = payload.entry[0]?.changes[0]?.value;
  const message = value?.messages?.[0];
  const phoneNumberId = value?.metadata?.phone_number_id;
  if (!value || !message || !phoneNumberId)
    return { status: 200, body: { received: 0, deduped: 0 } };
  return idempotent()({ key: `baseline:${message.id}` }, async () => {
    const table = tableName('inbound');
    const tenant = await testTenantStore().findByClaim('whatsapp_phone', phoneNumberId);
    if (!tenant) return { status: 200, body: { received: 0, deduped: 0 } };
    const person = identifyPerson([message.from], { defaultCountry: tenant.defaultCountry });
    const key = `BL#phone:${tenant.tenantId}:${person.e164}`;
    const route = await ddb.send(
      new GetCommand({ TableName: table, Key: { pk: key, sk: 'CKEY' } }),
    );
    const conversationId = route.Item ? String(route.Item.conversationId) : `BLC#${person.e164}`;
    const now = new Date().toISOString();
    const messageId = `BLM#${message.id}`;
    await ddb.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: messageId,
          sk: 'MSG',
          conversationId,
          body: messageText(message),
          createdAt: now,
        },
      }),
    );
    await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: conversationId, sk: 'CONV' },
        UpdateExpression: 'SET lastMessageAt = :now ADD messageCount :one',
        ExpressionAttributeValues: { ':now': now, ':one': 1 },
      }),
    );
    if (!route.Item) {
      await ddb.send(
        new PutCommand({ TableName: table, Item: { pk: key, sk: 'CKEY', conversationId } }),
      );
    }
    for (const type of ['lead_match', 'ai_triage']) {
      await ddb.send(
        new PutCommand({
          TableName: table,
          Item: { pk: messageId, sk: `JOB#${type}`, status: 'pending' },
        }),
      );
    }
    await enqueueFifo(
      sqs,
      process.env.BENCH_BASELINE_QUEUE_URL ?? '',
      ['lead_match', 'ai_triage'].map((type) => ({
        body: { messageId, type },
        groupId: messageId,
        identity: `${messageId}:${type}`,
      })),
    );
    return { status: 200, body: { received: 1, deduped: 0 } };
  });
});
