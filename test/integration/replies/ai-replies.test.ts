/**
 * AI replies against DynamoDB Local, the SQS emulator, the OpenAI-compatible simulator and the
 * WhatsApp simulator: the `ai_triage` job drafts a reply; a tenant with `aiReplies: "send"` (set
 * through `PUT /v1/tenants/{id}`) has it sent as a reply (`source: "ai"`, telemetry source
 * `background_job:ai_triage`) through the replies create path, once per inbound message whatever
 * the job's runs: a crash between the reply's creation and `done`, or two runs at once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { messageJobStore } from '../../../functions/conversations/deps.js';
import { handler as listJobs } from '../../../functions/conversations/handlers/list-jobs.js';
import {
  DynamoDbConversationStore,
  type MessageItem,
  messageIdFor,
} from '../../../functions/conversations/index.js';
import {
  AFTER_REPLY_CREATED,
  chatCompletion,
  type JobDeps,
  runJobs,
  triage,
} from '../../../functions/jobs/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import {
  armOnce,
  clearFailpoints,
  FailpointCrashError,
} from '../../../functions/kernel/failpoints.js';
import { aiReplies } from '../../../functions/replies/ai-replies.js';
import { tenantChannels } from '../../../functions/replies/deps.js';
import { aiReplyIdFor } from '../../../functions/replies/items.js';
import { sendReply } from '../../../functions/replies/sender.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../campaigns/campaign-support.js';
import { apiCall, invoke, startAiSimulator } from '../conversations/inbound-support.js';
import {
  fileInbound,
  type ReplyWorld,
  replyOf,
  replyWorld,
  senderDeps,
  simChannel,
} from './replies-support.js';

const ADMIN = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';

let ai: Awaited<ReturnType<typeof startAiSimulator>>;
let sim: WhatsAppSimulator;
beforeAll(async () => {
  ai = await startAiSimulator();
  sim = await startWhatsAppSimulator('ai-replies');
});
afterEach(() => clearFailpoints());
afterAll(async () => {
  await ai?.stop();
  await sim?.close();
});

/** `PUT /v1/tenants/{id}` with the tenant's own configuration and `aiReplies`. */
async function setAiReplies(world: ReplyWorld, aiReplies: 'off' | 'draft' | 'send') {
  const { handler } = await import('../../../functions/tenants/handlers/put-tenant.js');
  const tenant = await testTenantStore().get(world.tenant.tenantId);
  if (!tenant) throw new Error('tenant missing');
  const put = await invoke(
    handler,
    apiCall(ADMIN, {
      method: 'PUT',
      routeKey: 'PUT /v1/tenants/{tenantId}',
      path: `/v1/tenants/${world.tenant.tenantId}`,
      pathParameters: { tenantId: world.tenant.tenantId },
      body: {
        name: tenant.name,
        defaultCountry: tenant.defaultCountry,
        whatsapp: tenant.whatsapp,
        ghl: tenant.ghl,
        whatsappWeb: tenant.whatsappWeb,
        aiReplies,
      },
    }),
  );
  expect(put.status).toBe(200);
}

/** A person's question, filed as inbound WhatsApp (its jobs pending), and its message id. */
async function question(world: ReplyWorld): Promise<string> {
  const wamid = `wamid.q-${randomUUID()}`;
  await fileInbound(world.inbound, world.tenant.tenantId, world.phone, wamid);
  return messageIdFor(world.tenant.tenantId, messageKeys.cloud(wamid));
}

/** The job runner as the `processJob` handler composes it, on the world's clock and queue. */
function jobDeps(world: ReplyWorld): JobDeps<MessageItem> {
  const replies = aiReplies({
    ...world.replies,
    tenant: (id) => testTenantStore().get(id),
    channelsOf: tenantChannels,
  });
  return {
    store: messageJobStore(),
    clock: world.clock,
    leaseSeconds: 60,
    work: {
      lead_match: async () => ({ result: {} }),
      ai_triage: triage({ clock: world.clock, chat: chatCompletion, replies }),
    },
  };
}

const ring = (world: ReplyWorld, messageId: string) => ({
  tenantId: world.tenant.tenantId,
  messageId,
  jobTypes: ['ai_triage' as const],
});

async function outbound(world: ReplyWorld, conversationId = world.conversationId) {
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const { messages } = await store.listMessages(conversationId, { limit: 200 });
  return messages.filter((m) => m.direction === 'out');
}

async function simSendsOf(messageId: string) {
  const out = (await (await fetch(`${sim.url}/_sim/whatsapp/messages`)).json()) as {
    messages: Array<{ bizOpaqueCallbackData?: string }>;
  };
  return out.messages.filter((m) => m.bizOpaqueCallbackData === messageId);
}

/** Two doorbells of the reply, as the queue may deliver them: the provider is called once. */
async function sendTwice(world: ReplyWorld, messageId: string) {
  const body = { tenantId: world.tenant.tenantId, messageId };
  await sendReply(senderDeps(world, simChannel(sim.url)), body);
  await sendReply(senderDeps(world, simChannel(sim.url)), body);
}

describe('AI replies: the ai_triage draft, sent once per inbound message when the tenant says so', () => {
  it('aiReplies "draft" (sending disabled): a draft on the job (GET /v1/messages/{id}/jobs), and no reply', async () => {
    const world = await replyWorld();
    await setAiReplies(world, 'draft');
    const messageId = await question(world);
    expect((await runJobs(jobDeps(world), ring(world, messageId))).ai_triage).toBe('done');

    const listed = await invoke(
      listJobs,
      apiCall(world.tenant.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/messages/{messageId}/jobs',
        path: `/v1/messages/${messageId}/jobs`,
        pathParameters: { messageId },
      }),
    );
    expect(listed.status).toBe(200);
    const body = listed.json as {
      jobs: Array<{ type: string; result?: Record<string, unknown> }>;
      interactions: Array<{ source: string }>;
    };
    const job = body.jobs.find((j) => j.type === 'ai_triage');
    expect(job?.result).toMatchObject({ reply: 'drafted', draft: expect.any(String) });
    expect(String(job?.result?.draft).length).toBeGreaterThan(0);
    // Both model calls (classify, draft) are the job's AI spend.
    expect(body.interactions.map((i) => i.source)).toEqual([
      'background_job:ai_triage',
      'background_job:ai_triage',
    ]);
    expect(await outbound(world)).toEqual([]);
    expect(await replyOf(aiReplyIdFor(world.tenant.tenantId, messageId))).toBeUndefined();
  });

  it('a tenant without aiReplies (off): triage only, one model call, no draft and no reply', async () => {
    const world = await replyWorld();
    const messageId = await question(world);
    expect((await runJobs(jobDeps(world), ring(world, messageId))).ai_triage).toBe('done');
    const { jobs, interactions } = await messageJobStore().readPartition(messageId);
    expect(jobs.find((j) => j.jobType === 'ai_triage')?.result).not.toHaveProperty('draft');
    expect(interactions).toHaveLength(1);
    expect(await outbound(world)).toEqual([]);
  });

  it('aiReplies "send": the draft becomes one reply, source ai, attributed to background_job:ai_triage, sent once', async () => {
    const world = await replyWorld();
    await setAiReplies(world, 'send');
    const messageId = await question(world);
    expect((await runJobs(jobDeps(world), ring(world, messageId))).ai_triage).toBe('done');

    const replyId = aiReplyIdFor(world.tenant.tenantId, messageId);
    const reply = await replyOf(replyId);
    expect(reply).toMatchObject({
      source: 'ai',
      telemetrySource: 'background_job:ai_triage',
      status: 'queued',
      conversationId: world.conversationId,
    });
    const { jobs } = await messageJobStore().readPartition(messageId);
    expect(jobs.find((j) => j.jobType === 'ai_triage')?.result).toMatchObject({
      reply: 'sent',
      replyMessageId: replyId,
      draft: reply?.body,
    });
    await sendTwice(world, replyId);
    expect(await simSendsOf(replyId)).toHaveLength(1);
    expect((await replyOf(replyId))?.status).toBe('sent');
  });

  it('a job crashed between "reply created" and "done", then retried: one reply, one provider call', async () => {
    const world = await replyWorld();
    await setAiReplies(world, 'send');
    const messageId = await question(world);
    armOnce(AFTER_REPLY_CREATED);
    await expect(runJobs(jobDeps(world), ring(world, messageId))).rejects.toBeInstanceOf(
      FailpointCrashError,
    );
    // The crashed run's lease runs out; the redelivered job runs again from the start.
    world.clock.advance(61_000);
    expect((await runJobs(jobDeps(world), ring(world, messageId))).ai_triage).toBe('done');

    const replyId = aiReplyIdFor(world.tenant.tenantId, messageId);
    expect((await outbound(world)).map((m) => m.messageId)).toEqual([replyId]);
    const { jobs, interactions } = await messageJobStore().readPartition(messageId);
    expect(jobs.find((j) => j.jobType === 'ai_triage')).toMatchObject({
      status: 'done',
      attempts: 2,
      result: expect.objectContaining({ reply: 'sent', replyMessageId: replyId }),
    });
    // Only the run that finished recorded its model calls (the crashed one's were never committed).
    expect(interactions).toHaveLength(2);
    await sendTwice(world, replyId);
    expect(await simSendsOf(replyId)).toHaveLength(1);
  });

  it('the same inbound message triaged by two runs at once (a stale lease and its successor) creates one reply', async () => {
    const report = await raceTrials({
      trials: 8,
      setup: async () => {
        const world = await replyWorld();
        await setAiReplies(world, 'send');
        const messageId = await question(world);
        const { message } = await messageJobStore().readPartition(messageId);
        if (!message) throw new Error('no message');
        return { world, messageId, message };
      },
      contenders: ({ world, message }) => {
        const work = jobDeps(world).work.ai_triage;
        return [() => work(message, 'g1a1'), () => work(message, 'g1a2')];
      },
      check: async ({ world, messageId }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
        const replyId = aiReplyIdFor(world.tenant.tenantId, messageId);
        for (const o of outcomes) {
          const done = (o as PromiseFulfilledResult<{ result: Record<string, unknown> }>).value;
          expect(done.result).toMatchObject({ reply: 'sent', replyMessageId: replyId });
        }
        expect((await outbound(world)).map((m) => m.messageId)).toEqual([replyId]);
      },
    });
    expect(report.failures).toEqual([]);
  });
});
