/**
 * Shared setup for the inbound, conversations and jobs integration tests: tenants with credentials,
 * HTTP API v2 events for the real handlers, a private jobs queue per test file (so parallel files
 * never drain each other's work), a drain that runs the real job consumer on it, and an OpenAI
 * simulator on a free port for `ai_triage`.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { messageJobStore } from '../../../functions/conversations/deps.js';
import { handler as recoverJobsSchedule } from '../../../functions/conversations/handlers/recover-jobs-schedule.js';
import { PENDING_GRACE_SECONDS } from '../../../functions/jobs/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock } from '../../../functions/kernel/clock.js';
import { settings, tableName } from '../../../functions/kernel/config.js';
import { signHubBody } from '../../../functions/kernel/webhook-signature.js';
import { handler as processJob } from '../../../functions/replies/handlers/process-job.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { ensureFifoQueue, ensureTable } from '../../../lib/local/provision.js';
import { toSqsRecord } from '../../../lib/local/queue-poller.js';
import { fifoQueuePair } from '../../../lib/local/resources.js';
import { openaiSimulator } from '../../../lib/local/sim/openai.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';
import { envNameForQueue, envNameForTable, tables } from '../../../lib/manifest.js';
import { emulatorEndpoints, testDynamoDbClient, testSqsClient } from '../../support/emulators.js';
import { cloudText, fixture } from '../../support/inbound-payloads.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';
import { pollUntil } from '../../support/poll.js';
import { testPhoneNumberId, testTenant } from '../../support/test-tenant.js';

export { cloudText, fixture };

export const APP_SECRET = process.env.WHATSAPP_APP_SECRET ?? 'local-app-secret';

export interface TestTenant {
  readonly tenantId: string;
  readonly phoneNumberId: string;
  readonly locationId: string;
  readonly instance: string;
  readonly apiKey: string;
  readonly webhookToken: string;
}

export async function createTenant(defaultCountry = 'IL'): Promise<TestTenant> {
  const suffix = randomUUID().slice(0, 8);
  const phoneNumberId = testPhoneNumberId();
  const locationId = `loc-${suffix}`;
  const instance = `inst-${suffix}`;
  const tenant = await testTenant({
    defaultCountry,
    whatsapp: { phoneNumberIds: [phoneNumberId] },
    ghl: { locationIds: [locationId] },
    whatsappWeb: { instances: [instance] },
  });
  return {
    tenantId: tenant.tenantId,
    phoneNumberId,
    locationId,
    instance,
    apiKey: tenant.apiKey,
    webhookToken: tenant.webhookToken,
  };
}

export interface HttpCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly routeKey: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly pathParameters?: Record<string, string>;
  readonly body?: string;
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for asserting on JSON answers
  readonly json: any;
}

export const lambdaContext = fakeLambdaContext();

type HttpLambda = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

export async function invoke(handler: HttpLambda, call: HttpCall): Promise<HttpResult> {
  const query = call.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: call.routeKey,
    rawPath: call.path,
    rawQueryString,
    headers: call.headers ?? {},
    ...(rawQueryString ? { queryStringParameters: query } : {}),
    ...(call.pathParameters ? { pathParameters: call.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: call.method,
        path: call.path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: randomUUID(),
      routeKey: call.routeKey,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(call.body !== undefined ? { body: call.body } : {}),
    isBase64Encoded: false,
  };
  const result = (await handler(event, lambdaContext)) as {
    statusCode: number;
    headers?: Record<string, string>;
    body?: string;
  };
  const text = result.body ?? '';
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: result.statusCode, headers: result.headers ?? {}, text, json };
}

/** A signed Cloud API delivery (`raw` is sent byte for byte). */
export function cloudCall(raw: string, secret = APP_SECRET): HttpCall {
  return {
    method: 'POST',
    routeKey: 'POST /webhooks/whatsapp',
    path: '/webhooks/whatsapp',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signHubBody(raw, secret),
    },
    body: raw,
  };
}

/**
 * A signed Cloud API status webhook (the `whatsapp-cloud-status` fixture) about one sent message,
 * echoing `callbackData` as `biz_opaque_callback_data` when given.
 */
export function cloudStatusCall(
  phoneNumberId: string,
  s: {
    readonly wamid: string;
    readonly status: string;
    readonly to: string;
    readonly timestampMs: number;
    readonly callbackData?: string;
  },
): HttpCall {
  const payload = fixture('whatsapp-cloud-status') as {
    entry: Array<{ changes: Array<{ value: Record<string, unknown> }> }>;
  };
  const value = payload.entry[0]?.changes[0]?.value as Record<string, unknown>;
  value.metadata = { display_phone_number: '15550783881', phone_number_id: phoneNumberId };
  value.statuses = [
    {
      id: s.wamid,
      status: s.status,
      timestamp: String(Math.floor(s.timestampMs / 1000)),
      recipient_id: s.to.replace(/^\+/, ''),
      ...(s.callbackData !== undefined ? { biz_opaque_callback_data: s.callbackData } : {}),
    },
  ];
  return cloudCall(JSON.stringify(payload));
}

export function tokenCall(
  route: '/webhooks/ghl/sms' | '/webhooks/whatsapp-web',
  body: string,
  token?: string,
): HttpCall {
  return {
    method: 'POST',
    routeKey: `POST ${route}`,
    path: route,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-webhook-token': token } : {}) },
    body,
  };
}

/**
 * The one builder of a tenant's API call (a bearer key, JSON when there is a body): a body that is
 * not a string is sent as its JSON; `headers` add to (or override) the defaults.
 */
export function apiCall(
  apiKey: string,
  call: Omit<HttpCall, 'body'> & { body?: unknown },
): HttpCall {
  const { body, headers, ...rest } = call;
  return {
    ...rest,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  };
}

export function ghlPayload(
  tenant: Pick<TestTenant, 'locationId'>,
  overrides: Record<string, unknown> = {},
) {
  return { ...fixture('ghl-sms'), location: { name: 'Acme', id: tenant.locationId }, ...overrides };
}

export function webPayload(
  tenant: Pick<TestTenant, 'instance'>,
  key: Record<string, unknown>,
  text = 'hello from web',
  pushName = 'Dana',
) {
  const payload = fixture('whatsapp-web-upsert') as {
    instance: string;
    data: Record<string, unknown>;
  };
  payload.instance = tenant.instance;
  payload.data = {
    ...payload.data,
    key: { fromMe: false, ...key },
    pushName,
    message: { conversation: text },
  };
  return payload;
}

// --- the jobs queue --------------------------------------------------------------------------------

/** Points this worker's `jobs` queue at a fresh FIFO pair (short visibility so crashes come back fast). */
export async function privateJobsQueue(sqs: SQSClient): Promise<string> {
  const base = `jobs-${randomUUID().slice(0, 8)}`;
  const queue = fifoQueuePair(`${base}.fifo`, `${base}-dlq.fifo`, emulatorEndpoints().sqs);
  await ensureFifoQueue(sqs, queue, { visibilityTimeoutSeconds: 1, maxReceiveCount: 10 });
  process.env[envNameForQueue('jobs')] = queue.url;
  return queue.url;
}

/**
 * A private `inbound` table, jobs queue and AI simulator, for a test file whose recovery sweeps see
 * every stale job in the table: they never touch the work of the files running beside it.
 */
export async function privateInboundJobs(prefix: string) {
  const sqs = testSqsClient();
  const table = `${prefix}-${randomUUID().slice(0, 8)}`;
  const client = testDynamoDbClient();
  await ensureTable(client, table, tables.inbound);
  client.destroy();
  process.env[envNameForTable('inbound')] = table;
  const queueUrl = await privateJobsQueue(sqs);
  const ai = await startAiSimulator();
  return {
    sqs,
    queueUrl,
    ai,
    async stop() {
      await ai.stop();
      sqs.destroy();
    },
  };
}

/**
 * Drains the jobs queue and sweeps until every job of the message is done. Polls (real time passes)
 * so rings left in flight by a crashed invocation come back after their visibility timeout, as on
 * AWS; each sweep first moves this process's clock past the pending grace and every lease.
 */
export async function settleJobs(
  queue: { readonly sqs: SQSClient; readonly queueUrl: string },
  messageId: string,
): Promise<void> {
  await pollUntil(
    async () => {
      await drainQueue(queue.sqs, queue.queueUrl, processJob);
      const { jobs } = await messageJobStore().readPartition(messageId);
      if (jobs.length > 0 && jobs.every((j) => j.status === 'done')) return true;
      advanceSystemClock((Math.max(PENDING_GRACE_SECONDS, settings.leaseSeconds) + 1) * 1000);
      await recoverJobsSchedule({}, lambdaContext);
      return false;
    },
    { timeoutMs: 20_000, intervalMs: 250, description: `jobs of ${messageId} done` },
  );
}

type SqsLambda = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * Receives from the queue and runs the consumer until a receive comes back empty; deletes what
 * succeeded, as the Lambda event source does. Returns how many queue messages were handled.
 * A crash (thrown handler) leaves the batch for its visibility timeout, as on AWS.
 */
export async function drainQueue(
  sqs: SQSClient,
  queueUrl: string,
  handler: SqsLambda,
): Promise<number> {
  let handled = 0;
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty += 1;
      continue;
    }
    const event: SQSEvent = {
      Records: messages.map((m) => toSqsRecord(m, 'arn:aws:sqs:us-east-1:000000000000:jobs')),
    };
    const response = await handler(event, lambdaContext);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    if (done.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
    handled += done.length;
  }
  return handled;
}

// --- the OpenAI simulator --------------------------------------------------------------------------

export async function startAiSimulator(): Promise<{ url: string; stop: () => Promise<void> }> {
  const sim = createSimulatorServer({
    context: {
      apiBaseUrl: 'http://127.0.0.1:1',
      simBaseUrl: '',
      env: (n) => process.env[n],
      log: () => {},
    },
    factories: [openaiSimulator],
  });
  const port = await listen(sim.server as Server, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  process.env.SIM_BASE_URL = url;
  return {
    url,
    stop: async () => {
      await sim.closeModules();
      await closeServer(sim.server);
    },
  };
}

// --- reading the store -----------------------------------------------------------------------------

export async function tenantConversations(tenantId: string): Promise<Record<string, unknown>[]> {
  const { LISTING_SHARDS, keys } = await import('../../../functions/conversations/index.js');
  const shards = await Promise.all(
    Array.from({ length: LISTING_SHARDS }, (_, shard) =>
      ddb.send(
        new QueryCommand({
          TableName: tableName('inbound'),
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.listing(tenantId, shard) },
        }),
      ),
    ),
  );
  return shards
    .flatMap((out) => out.Items ?? [])
    .sort((a, b) => (String(a.gsi1sk) < String(b.gsi1sk) ? 1 : -1));
}

// --- calls the race and crash tests share ------------------------------------------------------------

/** One Cloud API text from `from` (digits), through the real handler. */
export async function sendCloud(
  t: TestTenant,
  from: string,
  body: string,
  wamid = `wamid.${randomUUID()}`,
): Promise<HttpResult> {
  const { handler } = await import('../../../functions/webhooks/handlers/receive-whatsapp.js');
  return invoke(handler, cloudCall(cloudText(t, { wamid, from, body })));
}

/** One WhatsApp Web `messages.upsert` with `key`, through the real handler. */
export async function sendWeb(
  t: TestTenant,
  key: Record<string, unknown>,
  text: string,
): Promise<HttpResult> {
  const { handler } = await import('../../../functions/webhooks/handlers/receive-whatsapp-web.js');
  return invoke(
    handler,
    tokenCall('/webhooks/whatsapp-web', JSON.stringify(webPayload(t, key, text)), t.webhookToken),
  );
}

/** `PUT /v1/leads/{leadId}` through the real handler. */
export async function leadCall(t: TestTenant, leadId: string, body: unknown): Promise<HttpResult> {
  const { handler } = await import('../../../functions/conversations/handlers/put-lead.js');
  return invoke(
    handler,
    apiCall(t.apiKey, {
      method: 'PUT',
      routeKey: 'PUT /v1/leads/{leadId}',
      path: `/v1/leads/${leadId}`,
      pathParameters: { leadId },
      body: JSON.stringify(body),
    }),
  );
}

/** Every conversation `GET /v1/conversations` lists for the tenant (all pages). */
export async function listedConversations(
  t: TestTenant,
): Promise<Array<{ conversationId: string; messageCount: number; conversationKey: string }>> {
  const { handler } = await import(
    '../../../functions/conversations/handlers/list-conversations.js'
  );
  const all = [];
  let cursor: string | undefined;
  do {
    const page = await invoke(
      handler,
      apiCall(t.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/conversations',
        path: '/v1/conversations',
        query: { limit: '200', ...(cursor ? { cursor } : {}) },
      }),
    );
    if (page.status !== 200) throw new Error(`listing answered ${page.status}: ${page.text}`);
    all.push(...page.json.conversations);
    cursor = page.json.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

/** The bodies of every message `GET /v1/conversations/{id}/messages` lists (all pages). */
export async function threadOf(t: TestTenant, conversationId: string): Promise<string[]> {
  const { handler } = await import('../../../functions/conversations/handlers/list-messages.js');
  const bodies: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await invoke(
      handler,
      apiCall(t.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/conversations/{conversationId}/messages',
        path: `/v1/conversations/${conversationId}/messages`,
        pathParameters: { conversationId },
        query: { limit: '200', ...(cursor ? { cursor } : {}) },
      }),
    );
    if (page.status !== 200) throw new Error(`messages answered ${page.status}: ${page.text}`);
    bodies.push(...page.json.messages.map((m: { body: string }) => m.body));
    cursor = page.json.nextCursor ?? undefined;
  } while (cursor);
  return bodies;
}
