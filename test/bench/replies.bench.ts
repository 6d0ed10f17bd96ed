/**
 * `npm run bench -- replies [--replies N] [--conversations C] [--clients K] [--pollers P] [--json]`:
 * replies from the operator's POST to the provider. N replies (default 300) over C conversations
 * (default 60: a conversation's replies leave in order, one FIFO group) are posted by K clients at
 * once (default 16) to `POST /v1/conversations/{id}/messages` (a template, `Idempotency-Key`) of the
 * local runtime; its `sendReply` worker (P pollers, default 4) sends them to the WhatsApp simulator.
 * Prints replies/s (first POST to last provider call), p50/p99 from "API accepted" (the 202 in the
 * client's hand) to the provider call (the simulator's `acceptedAt`), and DynamoDB units per reply
 * of the send path (the route, the sender; the provider's status webhooks apart).
 *
 * Baseline, measured in the same run on the same DynamoDB Local and simulator: a plain "send then
 * store" handler (call the provider, put the reply) wrapped in Powertools Idempotency
 * (`makeIdempotent`, its DynamoDB persistence layer, the key from the request's `Idempotency-Key`),
 * called by the same K clients. Its "accepted" is the handler's start (it sends inside the request).
 * What it gives up: a crash between the send and the store (or a lost answer) sends again on the
 * retry once the in-progress record expires; nothing is in the person's conversation; no shared rate.
 */
import { randomUUID } from 'node:crypto';
import { withBenchRuntime } from './bench-runtime.js';
import { countDynamoDb, type DynamoDbTally, emptyDynamoDbTally } from './dynamodb-tally.js';
import { breakdown } from './operation-breakdown.js';

interface SimSend {
  bizOpaqueCallbackData?: string;
  acceptedAt: string;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `work(i)` for i in 0..n-1 with `clients` callers at once. */
async function inParallel(n: number, clients: number, work: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

const units = (t: DynamoDbTally) => t.wcu + t.estimatedWcu;

export default async function repliesBench(args: string[]): Promise<void> {
  let total = 300;
  let conversations = 60;
  let clients = 16;
  let pollers = 4;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--replies') total = Number(args[++i]);
    else if (args[i] === '--conversations') conversations = Number(args[++i]);
    else if (args[i] === '--clients') clients = Number(args[++i]);
    else if (args[i] === '--pollers') pollers = Number(args[++i]);
    else if (args[i] === '--json') json = true;
  }
  const say = (line: string) => console.log(line);
  await withBenchRuntime(
    async (runtime) => {
      // Imported only now: SDK clients read the runtime's endpoints when they are created.
      const { CreateTableCommand, DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const { DynamoDBDocumentClient, PutCommand } = await import('@aws-sdk/lib-dynamodb');
      const { IdempotencyConfig, makeIdempotent } = await import(
        '@aws-lambda-powertools/idempotency'
      );
      const { DynamoDBPersistenceLayer } = await import(
        '@aws-lambda-powertools/idempotency/dynamodb'
      );
      const { tableName } = await import('../../functions/kernel/config.js');
      const { platformSecret } = await import('../../functions/kernel/secrets.js');
      const { createWhatsAppClient, whatsappApiVersion } = await import(
        '../../functions/campaigns/whatsapp-client.js'
      );
      const { tallyRuntimeCalls } = await import('./dynamodb-tally.js');
      const driver = await import('../e2e/campaign-driver.js');
      const urls = { apiUrl: runtime.urls.api, simUrl: runtime.urls.sim };
      const admin = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';
      const template = { name: 'order_update', language: 'en_US' };

      const simSends = async (): Promise<SimSend[]> => {
        const out = await driver.http(urls.simUrl, 'GET', '/_sim/whatsapp/messages');
        return (out.json.messages as SimSend[] | undefined) ?? [];
      };
      const waitForSends = async (ids: ReadonlySet<string>) => {
        for (;;) {
          const mine = (await simSends()).filter((s) => ids.has(s.bizOpaqueCallbackData ?? ''));
          if (mine.length >= ids.size) return mine;
          await new Promise((r) => setTimeout(r, 200));
        }
      };

      // --- set-up (not measured): a tenant and C conversations, each opened by a first message ------
      const run = randomUUID().slice(0, 8);
      const phoneNumberId = '700800910';
      const apiKey = await driver.setupTenant(urls, admin, {
        tenantId: `bench-${run}`,
        phoneNumberId,
        messagesPerSecond: 1000,
      });
      const opened: string[] = [];
      const openers = new Set<string>();
      await inParallel(conversations, clients, async (i) => {
        const out = await driver.http(urls.apiUrl, 'POST', '/v1/messages', {
          token: apiKey,
          headers: { 'idempotency-key': `open-${run}-${i}` },
          body: { to: { phone: driver.phoneAt(i) }, body: '', template },
        });
        if (out.status !== 202)
          throw new Error(`open ${i} → ${out.status} ${JSON.stringify(out.json)}`);
        const messageId = String(out.json.messageId);
        openers.add(messageId);
        const view = await driver.http(urls.apiUrl, 'GET', `/v1/messages/${messageId}`, {
          token: apiKey,
        });
        opened[i] = String(view.json.conversationId);
      });
      await waitForSends(openers);
      say(
        `replies bench: ${total} replies over ${conversations} conversations, ${clients} clients, ${pollers} pollers`,
      );

      // --- onceflow ------------------------------------------------------------------------------------
      // The runtime's functions run in workers: its gateway reports their DynamoDB calls. The send
      // path (route, sender, sweep) and the status webhooks the simulator posts are kept apart.
      let counting = true;
      const sendPath = emptyDynamoDbTally();
      const statuses = emptyDynamoDbTally();
      // The send path's requests itemised by operation and key prefix, as the campaign bench does.
      const sendPathByOperation = breakdown();
      sendPathByOperation.start();
      const stopTally = tallyRuntimeCalls(runtime, {
        chargeTo: (call) => {
          if (!counting) return undefined;
          if (call.functionName === 'receiveWhatsApp') return statuses;
          sendPathByOperation.record(call.operation, call.input, {
            failed: call.status !== 200,
            ...(call.output ? { output: call.output } : {}),
          });
          return sendPath;
        },
      });
      const acceptedAt = new Map<string, number>();
      const started = Date.now();
      await inParallel(total, clients, async (i) => {
        const conversationId = opened[i % conversations] as string;
        const out = await driver.http(
          urls.apiUrl,
          'POST',
          `/v1/conversations/${conversationId}/messages`,
          {
            token: apiKey,
            headers: { 'idempotency-key': `reply-${run}-${i}` },
            body: { body: '', template, source: 'bot' },
          },
        );
        if (out.status !== 202)
          throw new Error(
            `reply ${i} → ${out.status} ${conversationId} ${JSON.stringify(out.json)}`,
          );
        acceptedAt.set(String(out.json.messageId), Date.now());
      });
      const sent = await waitForSends(new Set(acceptedAt.keys()));
      const lastCall = Math.max(...sent.map((s) => Date.parse(s.acceptedAt)));
      const seconds = (lastCall - started) / 1000;
      // The status webhooks of the last sends land shortly after; give them a moment to be counted.
      await new Promise((r) => setTimeout(r, 1500));
      counting = false;
      stopTally();
      const byOperation = sendPathByOperation.stop(total);
      const latencies = sent
        .map((s) => Date.parse(s.acceptedAt) - (acceptedAt.get(s.bizOpaqueCallbackData ?? '') ?? 0))
        .sort((a, b) => a - b);

      // --- baseline: send then store, wrapped in Powertools Idempotency ---------------------------------
      const baselineClient = new DynamoDBClient({ endpoint: runtime.urls.dynamodb });
      const idempotencyTable = `bench-idempotency-${run}`;
      await baselineClient.send(
        new CreateTableCommand({
          TableName: idempotencyTable,
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const baselineDdb = DynamoDBDocumentClient.from(baselineClient);
      const whatsapp = createWhatsAppClient({
        baseUrl: runtime.urls.sim,
        version: whatsappApiVersion(),
        accessToken: () => platformSecret('whatsappAccessToken'),
      });
      const repliesTable = tableName('inbound');
      const baseAccepted = new Map<string, number>();
      const sendThenStore = makeIdempotent(
        async (request: { idempotencyKey: string; to: string; conversationId: string }) => {
          const messageId = `base-${run}-${request.idempotencyKey}`;
          baseAccepted.set(messageId, Date.now());
          const result = await whatsapp.sendTemplate({
            phoneNumberId: '700800911',
            to: request.to,
            template,
            callbackData: messageId,
          });
          const providerMessageId = result.kind === 'accepted' ? result.wamid : undefined;
          await baselineDdb.send(
            new PutCommand({
              TableName: repliesTable,
              Item: {
                pk: `BASE#${messageId}`,
                sk: 'REPLY',
                conversationId: request.conversationId,
                status: providerMessageId ? 'sent' : 'failed',
                ...(providerMessageId ? { providerMessageId } : {}),
              },
            }),
          );
          return { messageId, status: providerMessageId ? 'sent' : 'failed' };
        },
        {
          persistenceStore: new DynamoDBPersistenceLayer({
            tableName: idempotencyTable,
            awsSdkV3Client: baselineClient,
          }),
          config: new IdempotencyConfig({
            eventKeyJmesPath: 'idempotencyKey',
            expiresAfterSeconds: 24 * 3600,
          }),
        },
      );
      const baselineCounter = countDynamoDb(baselineClient, 'benchCountRepliesBaseline');
      baselineCounter.start();
      const baseStart = Date.now();
      await inParallel(total, clients, async (i) => {
        await sendThenStore({
          idempotencyKey: `reply-${i}`,
          to: driver.phoneAt(i % conversations),
          conversationId: opened[i % conversations] as string,
        });
      });
      const baseSeconds = (Date.now() - baseStart) / 1000;
      const baseTally = baselineCounter.stop();
      const baseSent = await waitForSends(new Set(baseAccepted.keys()));
      const baseLatencies = baseSent
        .map(
          (s) => Date.parse(s.acceptedAt) - (baseAccepted.get(s.bizOpaqueCallbackData ?? '') ?? 0),
        )
        .sort((a, b) => a - b);

      const perReply = (n: number) => +(n / total).toFixed(2);
      const result = {
        replies: total,
        conversations,
        clients,
        pollers,
        onceflow: {
          repliesPerSecond: Math.round(total / seconds),
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          wcuPerReply: perReply(units(sendPath)),
          rcuPerReply: perReply(sendPath.rcu),
          requestsPerReply: perReply(sendPath.requests),
          byOperation,
          statusWebhooks: {
            wcuPerReply: perReply(units(statuses)),
            rcuPerReply: perReply(statuses.rcu),
          },
        },
        baseline: {
          repliesPerSecond: Math.round(total / baseSeconds),
          p50Ms: percentile(baseLatencies, 50),
          p99Ms: percentile(baseLatencies, 99),
          wcuPerReply: perReply(units(baseTally)),
          rcuPerReply: perReply(baseTally.rcu),
          requestsPerReply: perReply(baseTally.requests),
        },
      };
      const o = result.onceflow;
      const b = result.baseline;
      say(
        `  onceflow  ${o.repliesPerSecond} replies/s, accepted→provider p50 ${o.p50Ms} ms p99 ${o.p99Ms} ms, ${o.wcuPerReply} WCU + ${o.rcuPerReply} RCU per reply (${o.requestsPerReply} requests; status webhooks ${o.statusWebhooks.wcuPerReply} WCU + ${o.statusWebhooks.rcuPerReply} RCU more)`,
      );
      say(
        `  baseline  ${b.repliesPerSecond} replies/s, accepted→provider p50 ${b.p50Ms} ms p99 ${b.p99Ms} ms, ${b.wcuPerReply} WCU + ${b.rcuPerReply} RCU per reply (${b.requestsPerReply} requests; send then store in Powertools Idempotency: no conversation, no lease, a lost answer resent)`,
      );
      say('  onceflow per reply, by operation (requests / WCU):');
      for (const [label, e] of Object.entries(byOperation))
        say(`    ${label.padEnd(56)}${String(e.requests).padStart(8)}${String(e.wcu).padStart(8)}`);
      if (json) console.log(JSON.stringify(result));
      baselineClient.destroy();
    },
    { pollersPerQueue: pollers },
  );
}
