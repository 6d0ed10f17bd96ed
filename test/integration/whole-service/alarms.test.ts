/**
 * Every alarm is proven, not declared. The flows that emit each catalogued metric are driven
 * through the real handlers (in process, on DynamoDB Local, the SQS emulator and the provider
 * simulators), the EMF lines each invocation prints are captured (Powertools Metrics writes them to
 * stdout, where Lambda's log ingestion turns them into metrics), and every alarm and dashboard graph
 * of the synthesized template is evaluated against them with CloudWatch's rules
 * (`test/support/cloudwatch.ts`): namespace, metric name, the exact dimension set a `SCHEMA(...)` or
 * search schema matches, statistic, period, threshold and comparison.
 *
 * So each catalogue alarm is shown able to fire on what the code really emits; a catalogued metric
 * no alarm or graph can see, an emitted dimension set the catalogue does not declare, or an alarm
 * whose query matches no emitted metric fails here. The platform alarms (AWS's own SQS, Lambda and
 * API Gateway metrics, which no emulator publishes) are checked against the metric names and
 * dimensions AWS documents, on the resources of this stack, with the datapoint the failure makes.
 *
 * The file provisions its own tables and queues (a private prefix), so the schedules it runs see
 * only its own work, and moves its process clock past every window once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { METRICS, type MetricSpec, PLATFORM_ALARMS } from '../../../lib/metrics-catalogue.js';
import {
  alarmsOf,
  type Datapoint,
  dashboardSelectors,
  datapointsOf,
  dimensionSet,
  evaluateAlarm,
  type MetricSelector,
  selects,
  type TemplateAlarm,
} from '../../support/cloudwatch.js';

// Powertools reports `ColdStart` only in an on-demand execution environment, read when the kernel's
// Metrics object is created: set before anything imports it.
vi.hoisted(() => {
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
});

// --- a private world: tables, queues and simulators of this file only ------------------------------

const { provision } = await import('../../../lib/local/provision.js');
const endpoints = inject('onceflowEndpoints');
const prefix = `alarms-${randomUUID().slice(0, 8)}`;
Object.assign(
  process.env,
  await provision({ dynamodbEndpoint: endpoints.dynamodb, sqsEndpoint: endpoints.sqs, prefix }),
);
const { createSimulatorServer } = await import('../../../lib/local/simulators.js');
const { listen, closeServer } = await import('../../../lib/local/http-util.js');
const simData = mkdtempSync(join(tmpdir(), 'onceflow-alarms-sim-'));
const simulators = createSimulatorServer({
  context: {
    // Status webhooks go nowhere: the test applies statuses itself.
    apiBaseUrl: 'http://127.0.0.1:9',
    simBaseUrl: '',
    env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? simData : process.env[name]),
    log: () => {},
  },
});
const simUrl = `http://127.0.0.1:${await listen(simulators.server, 0, '127.0.0.1')}`;
process.env.SIM_BASE_URL = simUrl;
process.env.GOOGLE_ADS_API_BASE_URL = simUrl;
process.env.GOOGLE_ADS_OAUTH_TOKEN_URL = `${simUrl}/token`;

// Handlers and supports read the environment when they load: imported only now.
const { ddb, sqs } = await import('../../../functions/kernel/clients.js');
const { advanceSystemClock, systemClock } = await import('../../../functions/kernel/clock.js');
const { queueUrl, settings, tableName } = await import('../../../functions/kernel/config.js');
const { ociSettings } = await import('../../../functions/oci/index.js');
const { SendMessageCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } = await import(
  '@aws-sdk/client-sqs'
);
const { UpdateCommand, QueryCommand, GetCommand, PutCommand, DeleteCommand } = await import(
  '@aws-sdk/lib-dynamodb'
);
const inbound = await import('../conversations/inbound-support.js');
const { eventFlows } = await import('./event-flows.js');
const oci = await import('../oci/oci-support.js');
const ledger = await import('../ledger/ledger-support.js');
const { testTenantStore } = await import('../../support/tenant-store.js');
const { tenantConfigSchema } = await import('../../../functions/tenants/tenant-store.js');
const { createCampaign } = await import('../../../functions/campaigns/lifecycle.js');
const { campaignDeps } = await import('../../../functions/campaigns/deps.js');
const { campaignKeys } = await import('../../../functions/campaigns/index.js');
const { encodeCallbackData } = await import('../../../functions/campaigns/model.js');
const { foldGroupOf, shardOf } = await import('../../../functions/campaigns/items.js');
const { ledgerDeps } = await import('../../../functions/ledger/index.js');
const { PENDING_GRACE_SECONDS } = await import('../../../functions/jobs/index.js');
const { DEFAULT_VERSIONS, VERSION_CALENDAR, VERSION_ENV } = await import(
  '../../../functions/kernel/provider-versions.js'
);
const { replyFlows } = await import('./reply-flows.js');

type Lambda = (event: never, context: Context) => Promise<unknown>;
const handlers = {
  receiveWhatsApp: await handlerOf('../../../functions/webhooks/handlers/receive-whatsapp.js'),
  processJob: await handlerOf('../../../functions/replies/handlers/process-job.js'),
  recoverJobs: await handlerOf(
    '../../../functions/conversations/handlers/recover-jobs-schedule.js',
  ),
  changeCampaignState: await handlerOf(
    '../../../functions/campaigns/handlers/change-campaign-state.js',
  ),
  fanoutCampaign: await handlerOf('../../../functions/campaigns/handlers/fanout-campaign.js'),
  sendCampaignMessage: await handlerOf(
    '../../../functions/campaigns/handlers/send-campaign-message.js',
  ),
  recoverCampaigns: await handlerOf('../../../functions/campaigns/handlers/recover-campaigns.js'),
  reconcileCampaignCounters: await handlerOf(
    '../../../functions/campaigns/handlers/reconcile-campaign-counters.js',
  ),
  reconcileConversions: await handlerOf(
    '../../../functions/ledger/handlers/reconcile-conversions.js',
  ),
  checkProviderVersions: await handlerOf(
    '../../../functions/health/handlers/check-provider-versions.js',
  ),
  changeFeed: await handlerOf('../../../functions/events/handlers/change-feed.js'),
  foldCampaignCounters: await handlerOf('../../../functions/campaigns/handlers/fold-counters.js'),
  putEndpoint: await handlerOf('../../../functions/events/handlers/put-endpoint.js'),
  deliverEvents: await handlerOf('../../../functions/events/handlers/deliver-events.js'),
  postMessage: await handlerOf('../../../functions/replies/handlers/post-message.js'),
  retryMessage: await handlerOf('../../../functions/replies/handlers/retry-message.js'),
  sendReply: await handlerOf('../../../functions/replies/handlers/send-reply.js'),
  reconcileReplies: await handlerOf('../../../functions/replies/handlers/reconcile-replies.js'),
};

async function handlerOf(path: string): Promise<Lambda> {
  return ((await import(path)) as { handler: Lambda }).handler;
}

// --- capturing what each invocation prints --------------------------------------------------------

interface Invocation {
  readonly fn: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly points: readonly Datapoint[];
}

const invocations: Invocation[] = [];

/** Replaces a stream's `write` with one that keeps the chunks; returns the undo. */
function tap(stream: NodeJS.WriteStream, chunks: string[]): () => void {
  const write = stream.write;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof stream.write;
  return () => {
    stream.write = write;
  };
}

/**
 * Runs one invocation with what it prints captured (and kept out of the test output): stdout,
 * where Powertools Metrics writes EMF and Logger its lines, and stderr, where Logger writes
 * warnings and errors.
 */
async function invocation<T>(fn: string, work: () => Promise<T>): Promise<T> {
  const out: string[] = [];
  const err: string[] = [];
  const untap = [tap(process.stdout, out), tap(process.stderr, err)];
  try {
    return await work();
  } finally {
    for (const undo of untap) undo();
    const stdout = out.join('');
    invocations.push({ fn, stdout, stderr: err.join(''), points: datapointsOf(stdout) });
  }
}

const context = inbound.lambdaContext;

function captured(fn: keyof typeof handlers) {
  return (event: unknown, ctx: Context = context) =>
    invocation(fn, () => handlers[fn](event as never, ctx)) as never;
}

function http(fn: keyof typeof handlers, call: Parameters<typeof inbound.invoke>[1]) {
  return invocation(fn, () => inbound.invoke(handlers[fn] as never, call));
}

const schedule = (fn: keyof typeof handlers) =>
  invocation(fn, () => handlers[fn]({ schedule: fn } as never, context));

function drain(queue: 'jobs' | 'sends' | 'fanout' | 'replies', fn: keyof typeof handlers) {
  return inbound.drainQueue(sqs, queueUrl(queue), captured(fn));
}

async function faults(body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${simUrl}/_sim/faults`, {
    method: body === CLEAR ? 'DELETE' : 'PUT',
    headers: { 'content-type': 'application/json' },
    ...(body === CLEAR ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status !== 200) throw new Error(`faults refused: ${await response.text()}`);
}
const CLEAR = {};

/** Runs `work` with every DynamoDB call passing `intercept` first (which may throw or act). */
async function withDynamoDb<T>(
  intercept: (command: unknown) => Promise<void> | void,
  work: () => Promise<T>,
): Promise<T> {
  const realSend = ddb.send.bind(ddb);
  const spy = vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
    await intercept(command);
    return realSend(command as never);
  }) as never);
  try {
    return await work();
  } finally {
    spy.mockRestore();
  }
}

// --- the flows --------------------------------------------------------------------------------------

const phone = () => `+97252${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

async function messagingTenant(options: { unknownOutcome?: 'hold' | 'retry_once' } = {}) {
  const t = await inbound.createTenant('IL');
  if (options.unknownOutcome) {
    await testTenantStore(systemClock).putConfig(
      t.tenantId,
      tenantConfigSchema.parse({
        name: `Tenant ${t.tenantId}`,
        defaultCountry: 'IL',
        whatsapp: { phoneNumberIds: [t.phoneNumberId] },
        ghl: { locationIds: [t.locationId] },
        whatsappWeb: { instances: [t.instance] },
        unknownOutcome: options.unknownOutcome,
      }),
    );
  }
  const domain = await testTenantStore(systemClock).get(t.tenantId, { consistent: true });
  if (!domain) throw new Error('tenant not created');
  return { ...t, domain };
}
type MessagingTenant = Awaited<ReturnType<typeof messagingTenant>>;

function statusCall(
  t: { phoneNumberId: string },
  s: { wamid: string; status: string; to: string; campaignId?: string },
) {
  return inbound.cloudStatusCall(t.phoneNumberId, {
    ...s,
    timestampMs: systemClock.now(),
    ...(s.campaignId ? { callbackData: encodeCallbackData(s.campaignId, s.to) } : {}),
  });
}

/** Creates, starts and fans out a campaign through its handlers; returns its id. */
async function startedCampaign(
  t: MessagingTenant,
  phones: readonly string[],
  template = { name: 'spring_sale', language: 'en_US' },
): Promise<string> {
  const id = `cmp_alarms_${randomUUID().slice(0, 8)}`;
  await createCampaign(campaignDeps(), t.domain, id, {
    name: 'Alarms',
    template,
    phoneNumberId: t.phoneNumberId,
    recipients: phones.map((p) => ({ phone: p })),
  });
  const started = await http(
    'changeCampaignState',
    inbound.apiCall(t.apiKey, {
      method: 'POST',
      routeKey: 'POST /v1/campaigns/{campaignId}/start',
      path: `/v1/campaigns/${id}/start`,
      pathParameters: { campaignId: id },
    }),
  );
  if (started.status !== 202) throw new Error(`start answered ${started.status}: ${started.text}`);
  await drain('fanout', 'fanoutCampaign');
  return id;
}

/** The wamid the WhatsApp simulator accepted for a campaign's contact (its ledger). */
async function acceptedWamid(campaignId: string, to: string): Promise<string> {
  const out = (await (await fetch(`${simUrl}/_sim/whatsapp/messages`)).json()) as {
    messages: Array<{ wamid: string; bizOpaqueCallbackData?: string }>;
  };
  const hit = out.messages.find(
    (m) => m.bizOpaqueCallbackData === encodeCallbackData(campaignId, to),
  );
  if (!hit) throw new Error(`the simulator accepted nothing for ${campaignId} ${to}`);
  return hit.wamid;
}

/**
 * The write that stores an accepted wamid (sending → sent with providerMessageId): one conditional
 * `UpdateItem` of the recipient (no counter, no transaction since the counters are folded).
 */
function isWamidStore(command: unknown, campaignId: string): boolean {
  if (!(command instanceof UpdateCommand)) return false;
  const input = JSON.stringify(command.input);
  return (
    input.includes('"sent"') && input.includes('providerMessageId') && input.includes(campaignId)
  );
}

/** What DynamoDB answers a write throttled past the SDK's own retries. */
function throttled() {
  return Object.assign(new Error('Throughput exceeds the current capacity'), {
    name: 'ProvisionedThroughputExceededException',
  });
}

const later: Array<() => Promise<void>> = [];

async function inboundFlows(): Promise<void> {
  const t = await messagingTenant();
  const message = inbound.cloudCall(
    inbound.cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972501110001' }),
  );
  await http('receiveWhatsApp', message); // WebhookItemStored
  await http('receiveWhatsApp', message); // WebhookItemDeduped, DuplicateSuppressed
  await http(
    'receiveWhatsApp',
    inbound.cloudCall(
      inbound.cloudText({ phoneNumberId: 'pn-nobody' }, { wamid: `wamid.${randomUUID()}` }),
    ),
  ); // WebhookItemUnroutable
  await http(
    'receiveWhatsApp',
    statusCall(t, { wamid: `wamid.${randomUUID()}`, status: 'deleted', to: phone() }),
  ); // WebhookItemInvalid
  await http(
    'receiveWhatsApp',
    inbound.cloudCall(inbound.cloudText(t, { wamid: `wamid.${randomUUID()}` }), 'not-the-secret'),
  ); // WebhookRejected
  await drain('jobs', 'processJob'); // JobDone, AiTokens

  // JobFailed: the AI endpoint answers 500.
  await faults({ openai: { errorRate: 1 } });
  await http(
    'receiveWhatsApp',
    inbound.cloudCall(
      inbound.cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972501110002' }),
    ),
  );
  await drain('jobs', 'processJob');
  await faults(CLEAR);

  // JobsRecovered: a stored message whose job doorbells were lost (taken off the queue unread).
  await http(
    'receiveWhatsApp',
    inbound.cloudCall(
      inbound.cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972501110003' }),
    ),
  );
  const lost = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl('jobs'), MaxNumberOfMessages: 10 }),
  );
  if ((lost.Messages ?? []).length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl('jobs'),
        Entries: (lost.Messages ?? []).map((m, i) => ({
          Id: String(i),
          ReceiptHandle: m.ReceiptHandle ?? '',
        })),
      }),
    );
  }
  later.push(async () => {
    await schedule('recoverJobs'); // JobsRecovered
    await drain('jobs', 'processJob');
  });

  // PoisonMessage: a body no job schema reads.
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl('jobs'),
      MessageBody: 'not json',
      MessageGroupId: 'poison',
      MessageDeduplicationId: randomUUID(),
    }),
  );
  await drain('jobs', 'processJob');
}

async function campaignFlows(): Promise<void> {
  const hold = await messagingTenant();
  // CampaignMessageSent
  const sentTo = phone();
  const sentCampaign = await startedCampaign(hold, [sentTo]);
  await drain('sends', 'sendCampaignMessage');
  // CampaignMessageFailed: the template does not exist (132001, permanent).
  await startedCampaign(hold, [phone()], { name: 'missing_template', language: 'en_US' });
  await drain('sends', 'sendCampaignMessage');
  // CampaignSendThrottled: one accepted send a second for the number, three at once (130429).
  await faults({ whatsapp: { rateLimitPerSecond: 1 } });
  await startedCampaign(hold, [phone(), phone(), phone()]);
  await drain('sends', 'sendCampaignMessage');
  await faults(CLEAR);

  // CampaignSendOutcomeUnknown: answers lost after the provider accepted.
  await faults({ whatsapp: { lostResponseRate: 1 } });
  const [reconciled, held] = [phone(), phone()];
  const unknownCampaign = await startedCampaign(hold, [reconciled, held]);
  await drain('sends', 'sendCampaignMessage');
  await faults(CLEAR);
  const wamid = await acceptedWamid(unknownCampaign, reconciled);
  const sent = { wamid, status: 'sent', to: reconciled, campaignId: unknownCampaign };
  await http('receiveWhatsApp', statusCall(hold, sent)); // CampaignOutcomeReconciled
  await http('receiveWhatsApp', statusCall(hold, sent)); // DuplicateSuppressed
  await http(
    'receiveWhatsApp',
    statusCall(hold, { ...sent, wamid: `wamid.${randomUUID()}`, status: 'delivered' }),
  ); // CampaignStatusWamidMismatch

  const retry = await messagingTenant({ unknownOutcome: 'retry_once' });
  await faults({ whatsapp: { lostResponseRate: 1 } });
  await startedCampaign(retry, [phone()]);
  await drain('sends', 'sendCampaignMessage');
  await faults(CLEAR);

  later.push(async () => {
    await schedule('recoverCampaigns'); // CampaignUnknownOutcomeHeld, CampaignUnknownOutcomeRetried
    const heldWamid = await acceptedWamid(unknownCampaign, held);
    await http(
      'receiveWhatsApp',
      statusCall(hold, {
        wamid: heldWamid,
        status: 'delivered',
        to: held,
        campaignId: unknownCampaign,
      }),
    ); // CampaignLateEvidenceApplied

    // CounterDrift: one fold group's count moved by a write no transition made (its shards
    // quiet past the fold's lag bound: the clock moved past every window above).
    await ddb.send(
      new UpdateCommand({
        TableName: tableName('campaigns'),
        Key: campaignKeys.foldedGroup(hold.tenantId, sentCampaign, foldGroupOf(shardOf(sentTo))),
        UpdateExpression: 'ADD #f :n',
        ExpressionAttributeNames: { '#f': 'pending' },
        ExpressionAttributeValues: { ':n': 1 },
      }),
    );
    await schedule('reconcileCampaignCounters');

    // CampaignWamidKeptAlone: the store of the wamid keeps failing (throttled).
    const alone = await startedCampaign(hold, [phone()]);
    await withDynamoDb(
      (command) => {
        if (isWamidStore(command, alone)) throw throttled();
      },
      () => drain('sends', 'sendCampaignMessage'),
    );

    // CampaignWamidLost: and the recipient-only write keeps failing too.
    const lostCampaign = await startedCampaign(hold, [phone()]);
    await withDynamoDb(
      (command) => {
        if (
          command instanceof UpdateCommand &&
          JSON.stringify(command.input).includes(lostCampaign) &&
          JSON.stringify(command.input).includes('providerMessageId')
        ) {
          throw throttled();
        }
      },
      () => drain('sends', 'sendCampaignMessage'),
    );

    // CampaignWamidConflict: while the send is in flight, a status webhook brings another wamid
    // for the same contact (the provider sent twice), and is applied first.
    const twinTo = phone();
    const twin = await startedCampaign(hold, [twinTo]);
    let raced = false;
    await withDynamoDb(
      async (command) => {
        if (raced || !isWamidStore(command, twin)) return;
        raced = true;
        await http(
          'receiveWhatsApp',
          statusCall(hold, {
            wamid: `wamid.${randomUUID()}`,
            status: 'sent',
            to: twinTo,
            campaignId: twin,
          }),
        );
      },
      () => drain('sends', 'sendCampaignMessage'),
    );

    // CampaignRecoveryFailed and CounterReconcileFailed: one campaign's reads fail.
    const broken = await startedCampaign(hold, [phone()]);
    const failReadsOf = (command: unknown) => {
      if (
        (command instanceof QueryCommand || command instanceof GetCommand) &&
        JSON.stringify(command.input).includes(broken)
      ) {
        throw new Error('simulated failure reading one campaign');
      }
    };
    await withDynamoDb(failReadsOf, () => schedule('recoverCampaigns'));
    await withDynamoDb(failReadsOf, () => schedule('reconcileCampaignCounters'));
  });
}

async function ociFlows(): Promise<void> {
  // Script mode: seals, export, acks, a retraction, a row left claimed.
  const script = await oci.createOciTenant('script');
  const sessions = await oci.makeCalls(script, 5, 2);
  const callIds = sessions.map((s) => s[0] as string);
  for (const callId of callIds) await invocation('sealCall', () => oci.seal(script, callId)); // OciSealed
  // Another call of a sealed session: OciDuplicateSeal.
  await invocation('sealCall', () => oci.seal(script, sessions[0]?.[1] as string));
  const exported = await invocation('exportConversions', () =>
    oci.exportRowsCall(script.exportToken, { limit: '4' }),
  ); // OciRowsClaimed
  const [done, refused, early, handedOver] = (exported.json.rows as Array<{ orderId: string }>).map(
    (r) => r.orderId,
  );
  await invocation('ackConversions', () =>
    oci.ack(script.exportToken, {
      results: [
        { orderId: done, status: 'completed' },
        { orderId: refused, status: 'failed', error: 'UNPARSEABLE_GCLID' },
        { orderId: early, status: 'failed', error: 'TOO_RECENT_EVENT' },
        { orderId: handedOver, status: 'uploaded' },
      ],
    }),
  ); // OciRowsCompleted, OciRowsFailed, OciRowsRetry, OciRowsUnconfirmed
  const completed = (await oci.listAll(script)).find((c) => c.orderId === done);
  await invocation('retractOciConversion', () =>
    oci.retract(script, completed?.conversionId as string),
  ); // OciRetractionRequested
  await invocation('exportConversions', () =>
    oci.exportRowsCall(script.exportToken, { limit: '1' }),
  ); // claimed, never acked: stale after the window
  later.push(async () => {
    await invocation('recoverStaleOciRows', () => oci.runSchedule('recover')); // OciStaleRecovered
  });

  // API mode: a withdrawal, an upload Google takes, one it refuses a row of, one over quota.
  const api = await oci.createOciTenant('api');
  const [keep, withdraw] = (await oci.makeCalls(api, 2, 1)).map((s) => s[0] as string);
  await invocation('sealCall', () => oci.seal(api, keep as string));
  const withdrawn = await invocation('sealCall', () => oci.seal(api, withdraw as string));
  await invocation('retractOciConversion', () =>
    oci.retract(api, withdrawn.json.conversionId as string),
  ); // OciWithdrawn
  await invocation('uploadOciConversions', () => oci.runSchedule('upload')); // GoogleAdsUploadAccepted

  const unknownClick = `Cj0Kunknown${randomUUID().slice(0, 8)}`;
  await oci.postCall(api, {
    callId: 'refused',
    sessionId: 'refused',
    gclid: unknownClick,
    source: 'click',
    occurredAt: oci.clickTime(),
  });
  await invocation('sealCall', () => oci.seal(api, 'refused'));
  await faults({ googleAds: { unknownClickIds: [unknownClick] } });
  await invocation('uploadOciConversions', () => oci.runSchedule('upload')); // a row refused: OciRowsFailed
  const [overQuota] = (await oci.makeCalls(api, 1, 1)).map((s) => s[0] as string);
  await invocation('sealCall', () => oci.seal(api, overQuota as string));
  await faults({ googleAds: { quotaExceededRate: 1 } });
  await invocation('uploadOciConversions', () => oci.runSchedule('upload')); // GoogleAdsUploadUnknown, GoogleAdsQuotaExceeded
  await faults(CLEAR);

  // An entry in the upload index too malformed to read (no customerId): UnreadableSweepEntry.
  const malformed = { pk: `MALFORMED#${randomUUID()}`, sk: 'ROW' };
  await ddb.send(
    new PutCommand({
      TableName: tableName('conversions'),
      Item: {
        ...malformed,
        sweepPk: 'OCI#UPLOAD#conversion#0',
        sweepAt: '2000-01-01T00:00:00.000Z',
        tenantId: api.tenantId,
        conversionId: 'malformed',
        kind: 'conversion',
      },
    }),
  );
  await invocation('uploadOciConversions', () => oci.runSchedule('upload'));
  await ddb.send(new DeleteCommand({ TableName: tableName('conversions'), Key: malformed }));

  // The whole request refused: the OAuth grant revoked (the token endpoint's invalid_grant), seen
  // once the uploader's cached access token (an hour) has expired.
  const [revoked] = (await oci.makeCalls(api, 1, 1)).map((s) => s[0] as string);
  await invocation('sealCall', () => oci.seal(api, revoked as string));
  later.push(async () => {
    advanceSystemClock(3_600_000);
    await faults({ googleAds: { oauthRevoked: true } });
    await invocation('uploadOciConversions', () => oci.runSchedule('upload')); // GoogleAdsUploadRejected
    await faults(CLEAR);
  });
}

/**
 * The daily version check, run last (it moves the clock far ahead): a Google Ads version past its
 * sunset in the environment (ProviderVersionRejected), the clock 30 days before the default Graph
 * version's sunset (ProviderVersionSunsetSoon).
 */
async function versionFlows(): Promise<void> {
  const now = systemClock.now();
  const past = VERSION_CALENDAR.googleAds.find((v) => v.sunsetAt && Date.parse(v.sunsetAt) < now);
  const graphSunset = VERSION_CALENDAR.whatsappGraph.find(
    (v) => v.version === DEFAULT_VERSIONS.whatsappGraph,
  )?.sunsetAt;
  if (!past || !graphSunset) throw new Error('the calendar has no sunset version to test with');
  advanceSystemClock(Math.max(0, Date.parse(graphSunset) - 30 * 86_400_000 - now));
  const variable = VERSION_ENV.googleAds;
  const configured = process.env[variable];
  process.env[variable] = past.version;
  try {
    await schedule('checkProviderVersions'); // ProviderVersionRejected, ProviderVersionSunsetSoon
  } finally {
    if (configured === undefined) delete process.env[variable];
    else process.env[variable] = configured;
  }
}

/** The change feed handed a record committed 301 s ago (ChangeFeedLagSeconds past its alarm). */
async function changeFeedFlows(): Promise<void> {
  const committed = Math.floor(systemClock.now() / 1000) - 301;
  await captured('changeFeed')({
    Records: [
      {
        eventID: 'lag-probe',
        eventName: 'INSERT',
        eventSource: 'aws:dynamodb',
        eventVersion: '1.1',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/1',
        dynamodb: {
          ApproximateCreationDateTime: committed,
          Keys: { pk: { S: 'probe' }, sk: { S: 'probe' } },
          NewImage: { pk: { S: 'probe' }, sk: { S: 'probe' } },
          SequenceNumber: '1',
          SizeBytes: 10,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      },
    ],
  });
}

/**
 * The counter fold handed a recipient's arrival committed 61 s ago (CounterFoldLagSeconds past its
 * alarm): folded into a probe campaign's shard count like any other.
 */
async function counterFoldFlows(): Promise<void> {
  const committed = Math.floor(systemClock.now() / 1000) - 61;
  const at = new Date(committed * 1000).toISOString();
  const probe = `lag-probe-${randomUUID().slice(0, 8)}`;
  await captured('foldCampaignCounters')({
    Records: [
      {
        eventID: 'fold-lag-probe',
        eventName: 'INSERT',
        eventSource: 'aws:dynamodb',
        eventVersion: '1.1',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/1',
        dynamodb: {
          ApproximateCreationDateTime: committed,
          Keys: { pk: { S: `CR#${probe}#c#00` }, sk: { S: 'R#+972500000000' } },
          NewImage: {
            pk: { S: `CR#${probe}#c#00` },
            sk: { S: 'R#+972500000000' },
            kind: { S: 'recipient' },
            tenantId: { S: probe },
            campaignId: { S: 'c' },
            phone: { S: '+972500000000' },
            status: { S: 'pending' },
            attempts: { N: '0' },
            createdAt: { S: at },
            updatedAt: { S: at },
          },
          SequenceNumber: '100000000000000000001',
          SizeBytes: 10,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      },
    ],
  });
}

async function ledgerFlows(): Promise<void> {
  const tenant = await ledger.createLedgerTenant();
  const api = ledger.ledgerApi(tenant.apiKey);
  const queue = 'unsigned_users';
  const signed = 'signature_obtained';
  const user = `u-${randomUUID().slice(0, 8)}`;
  await invocation('putQueueMember', () => api.join(queue, user));
  const event = {
    type: signed,
    occurredAt: new Date(systemClock.now()).toISOString(),
    eventId: 'e1',
  };
  await invocation('recordUserEvent', () => api.event(user, event)); // ConversionsLogged
  await invocation('recordUserEvent', () => api.event(user, event)); // DuplicateEvidenceSuppressed

  // ConversionsReconciled: evidence stored, then every live path missed it for a whole window.
  const missed = `u-${randomUUID().slice(0, 8)}`;
  await invocation('putQueueMember', () => api.join(queue, missed));
  const at = new Date(systemClock.now()).toISOString();
  await ledgerDeps().store.putEvidence({
    tenantId: tenant.tenantId,
    userId: missed,
    type: signed,
    evidenceId: 'e:missed',
    eventId: 'missed',
    occurredAt: at,
    effectiveAt: at,
    receivedAt: at,
    state: 'pending',
  });
  later.push(async () => {
    await schedule('reconcileConversions'); // ConversionsReconciled, ConversionsLogged
  });
}

// --- the template -----------------------------------------------------------------------------------

const { OnceflowStack } = await import('../../../lib/onceflow-stack.js');
const { testApp } = await import('../../infra/synth-support.js');
const { Template } = await import('aws-cdk-lib/assertions');
const stack = new OnceflowStack(testApp(), 'Alarms');
// The alarms and the dashboard live in the observability nested stack (CloudFormation's 500
// resources per stack); alarm names still start with the service stack's name.
const template = Template.fromStack(stack.observability).toJSON() as {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
};
const alarms = alarmsOf(template);
const dashboardBody = Object.values(template.Resources).find(
  (r) => r.Type === 'AWS::CloudWatch::Dashboard',
)?.Properties?.DashboardBody;
const graphs = dashboardSelectors(dashboardBody);
const catalogueAlarms = METRICS.filter((m) => m.alarm).map((m) => ({
  metric: m,
  alarm: alarms.find((a) => a.name === `Alarms-${m.name}`) as TemplateAlarm,
}));

let points: Datapoint[] = [];

beforeAll(async () => {
  await inboundFlows();
  await campaignFlows();
  await replyFlows({
    simUrl,
    tenant: messagingTenant,
    http,
    drainReplies: () => drain('replies', 'sendReply'),
    reconcile: () => schedule('reconcileReplies'),
    faults,
    clearFaults: CLEAR,
    withDynamoDb,
    later,
  });
  await ociFlows();
  await ledgerFlows();
  await changeFeedFlows();
  await counterFoldFlows();
  await eventFlows({
    simUrl,
    putEndpoint: (call) => http('putEndpoint', call),
    deliverEvents: captured('deliverEvents'),
  });
  // Past every window once: reconciliation (600 s), OCI stale rows (900 s), job grace, leases.
  const windows = [
    settings.reconcileWindowSeconds,
    ociSettings.staleSeconds,
    PENDING_GRACE_SECONDS,
    settings.leaseSeconds,
  ];
  advanceSystemClock((Math.max(...windows) + 1) * 1000);
  for (const step of later) await step();
  await versionFlows();
  points = invocations.flatMap((i) => [...i.points]);
}, 240_000);

afterAll(async () => {
  await simulators.closeModules();
  await closeServer(simulators.server);
});

// --- what the flows emitted, against the catalogue -------------------------------------------------

const emitted = (name: string) =>
  points.filter((p) => p.namespace === 'Onceflow' && p.name === name);
const dimensionSetsOf = (name: string) => [
  ...new Set(emitted(name).map((p) => dimensionSet(p.dimensions))),
];
const driven = METRICS.filter((m) => !m.pendingFrom);

describe('the flows emit every catalogued metric', () => {
  it('drives a flow for every catalogued metric (but those declared ahead of their code)', () => {
    const missing = driven.filter((m) => emitted(m.name).length === 0).map((m) => m.name);
    expect(missing, 'catalogued metrics no flow emitted').toEqual([]);
  });

  it.each(driven.map((m) => [m.name, m] as [string, MetricSpec]))(
    '%s is emitted with exactly the dimension set the catalogue declares',
    (_name, metric) => {
      expect(dimensionSetsOf(metric.name)).toEqual([dimensionSet([...metric.dimensions])]);
    },
  );

  it("emits each stream pipeline's lag under its own metric only (the other's alarm sums every source)", () => {
    const sources = (name: string) => [...new Set(emitted(name).map((p) => p.dimensions.source))];
    expect(sources('ChangeFeedLagSeconds')).toEqual(['stream:changeFeed']);
    expect(sources('CounterFoldLagSeconds')).toEqual(['stream:foldCampaignCounters']);
  });

  it('emits nothing in the namespace the catalogue does not declare', () => {
    const declared = new Set(METRICS.map((m) => m.name));
    const undeclared = [...new Set(points.map((p) => p.name))].filter((n) => !declared.has(n));
    expect(undeclared).toEqual([]);
  });
});

describe('every emitted metric is seen', () => {
  it('by an alarm or a dashboard graph: no dimension set falls between the queries', () => {
    const unseen = [
      ...new Map(
        points.map((p) => [`${p.name} {${dimensionSet(p.dimensions)}}`, p] as const),
      ).entries(),
    ]
      .filter(
        ([, p]) =>
          !graphs.some((g) => selects(g, p)) &&
          !alarms.some((a) => a.selectors.some((s) => selects(s, p))),
      )
      .map(([key]) => key);
    expect(unseen, 'emitted metrics that no alarm or graph selects').toEqual([]);
  });

  it.each(driven.map((m) => m.name))(
    '%s has a dashboard graph that shows what was emitted',
    (name) => {
      const shown = emitted(name).filter((p) => graphs.some((g) => selects(g, p)));
      expect(shown.length, `${name} as emitted: {${dimensionSetsOf(name).join('} {')}}`).toBe(
        emitted(name).length,
      );
    },
  );
});

describe('every catalogue alarm can fire on what the code emits', () => {
  it('has one alarm per catalogue alarm', () => {
    for (const { metric, alarm } of catalogueAlarms) expect(alarm, metric.name).toBeDefined();
  });

  it.each(catalogueAlarms.map((c) => [c.metric.name, c] as const))(
    '%s fires: its query matches the emitted metric and its period sum breaches the threshold',
    (_name, { metric, alarm }) => {
      const result = evaluateAlarm(alarm, points);
      const detail = `${alarm.selectors.map((s) => `${s.name} SCHEMA(${s.namespace}, ${s.schema?.join(', ')})`).join(' ')} matched ${result.matched.length} of ${emitted(metric.name).length} datapoints emitted as {${dimensionSetsOf(metric.name).join('} {')}}`;
      expect(result.matched.length, detail).toBeGreaterThan(0);
      expect(alarm.periodSeconds).toBe(metric.alarm?.periodSeconds);
      expect(alarm.threshold).toBe(metric.alarm?.greaterThan);
      expect(alarm.comparison).toBe('GreaterThanThreshold');
      expect(alarm.statistic).toBe(metric.alarm?.statistic ?? 'SUM');
      expect(result.fires, detail).toBe(true);
    },
  );
});

// --- the platform alarms ----------------------------------------------------------------------------

/**
 * AWS's own metrics the platform alarms read, with the dimensions AWS publishes them under:
 * SQS https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html,
 * Lambda https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html,
 * API Gateway (HTTP APIs) https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html.
 */
const AWS_METRICS: Record<string, { dimensions: string[]; resource: string; attribute?: string }> =
  {
    'AWS/SQS ApproximateNumberOfMessagesVisible': {
      dimensions: ['QueueName'],
      resource: 'AWS::SQS::Queue',
      attribute: 'QueueName',
    },
    'AWS/SQS ApproximateAgeOfOldestMessage': {
      dimensions: ['QueueName'],
      resource: 'AWS::SQS::Queue',
      attribute: 'QueueName',
    },
    'AWS/Lambda Errors': { dimensions: ['FunctionName'], resource: 'AWS::Lambda::Function' },
    // Milliseconds, for functions with a stream or queue event source mapping (the Lambda page above).
    'AWS/Lambda IteratorAge': { dimensions: ['FunctionName'], resource: 'AWS::Lambda::Function' },
    'AWS/ApiGateway 5xx': { dimensions: ['ApiId', 'Stage'], resource: 'AWS::ApiGatewayV2::Api' },
    'AWS/ApiGateway Count': { dimensions: ['ApiId', 'Stage'], resource: 'AWS::ApiGatewayV2::Api' },
  };

/** The datapoint each platform failure makes AWS publish, by alarm kind. */
const FAILURE: Record<
  keyof typeof PLATFORM_ALARMS,
  (selector: MetricSelector, alarm: TemplateAlarm) => number
> = {
  DeadLetterMessages: () => 1, // one message dead-lettered
  // The oldest message a second past its queue's window: 900 s, or the whole retry schedule for
  // event deliveries (whose messages wait in the queue through their backoff by design).
  StaleQueueWork: (_, alarm) => alarm.threshold + 1,
  LambdaErrors: () => 1, // one failed invocation
  Http5xxRate: (s) => (s.name === '5xx' ? 2 : 100), // 2 of 100 requests answered 5xx
  // The stream's oldest unprocessed record a second past the function's bound (milliseconds).
  StreamIteratorAge: (_, alarm) => alarm.threshold + 1000,
};

// The nested stack gets each service resource as a parameter: the service template's
// `AWS::CloudFormation::Stack` says which value each parameter is passed.
const serviceTemplate = Template.fromStack(stack).toJSON() as typeof template;
const passedParameters = Object.values(serviceTemplate.Resources)
  .filter((r) => r.Type === 'AWS::CloudFormation::Stack')
  .reduce<Record<string, unknown>>(
    (all, r) => Object.assign(all, r.Properties?.Parameters as Record<string, unknown>),
    {},
  );

/** What a nested-stack value stands for in the service stack (a parameter's passed value). */
function serviceValue(value: unknown): unknown {
  const ref = (value as { Ref?: string } | undefined)?.Ref;
  return ref !== undefined && ref in passedParameters ? passedParameters[ref] : value;
}

function referencedResource(value: unknown): string | undefined {
  const v = serviceValue(value) as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  return v?.Ref ?? v?.['Fn::GetAtt']?.[0];
}

const platformAlarms = alarms.filter((a) => !catalogueAlarms.some((c) => c.alarm === a));

describe('every platform alarm reads a metric AWS publishes for a resource of this stack', () => {
  it('has only catalogue and platform alarms', () => {
    const kinds = Object.keys(PLATFORM_ALARMS);
    for (const alarm of platformAlarms) {
      expect(
        kinds.some((k) => alarm.name.startsWith(`Alarms-${k}-`)),
        alarm.name,
      ).toBe(true);
    }
  });

  it.each(platformAlarms.map((a) => [a.name, a] as const))('%s can fire', (name, alarm) => {
    const kind = Object.keys(PLATFORM_ALARMS).find((k) =>
      name.startsWith(`Alarms-${k}-`),
    ) as keyof typeof PLATFORM_ALARMS;
    const failure: Datapoint[] = alarm.selectors.map((selector) => {
      const known = AWS_METRICS[`${selector.namespace} ${selector.name}`];
      expect(
        known,
        `${selector.namespace} ${selector.name} is a metric AWS publishes`,
      ).toBeDefined();
      expect([...(selector.schema ?? [])].sort()).toEqual([...(known?.dimensions ?? [])].sort());
      for (const [dimension, value] of Object.entries(selector.equals ?? {})) {
        if (dimension === 'Stage') {
          expect(value).toBe('$default');
          continue;
        }
        const id = referencedResource(value);
        expect(serviceTemplate.Resources[id ?? '']?.Type, `${dimension} of ${name}`).toBe(
          known?.resource,
        );
        if (known?.attribute) {
          expect((serviceValue(value) as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][1]).toBe(
            known.attribute,
          );
        }
      }
      return {
        namespace: selector.namespace,
        name: selector.name,
        dimensions: selector.equals as Record<string, string>,
        value: FAILURE[kind](selector, alarm),
        timestamp: systemClock.now(),
      };
    });
    expect(evaluateAlarm(alarm, failure).fires).toBe(true);
    // And stays OK without the failure.
    const healthy = failure.map((p) => ({ ...p, value: p.name === 'Count' ? 100 : 0 }));
    expect(evaluateAlarm(alarm, healthy).fires).toBe(false);
  });

  it('watches every dead-letter queue, and only those, for dead letters', () => {
    const dlqIds = [
      ...Object.values(stack.deadLetterQueues),
      ...Object.values(stack.streamDeadLetterQueues),
    ].map((q) => stack.getLogicalId(q.node.defaultChild as never));
    const watched = platformAlarms
      .filter((a) => a.name.startsWith('Alarms-DeadLetterMessages-'))
      .map((a) => referencedResource(a.selectors[0]?.equals?.QueueName));
    expect(watched.sort()).toEqual(dlqIds.sort());
  });
});
