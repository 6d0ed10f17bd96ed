/**
 * Post-processing jobs and crash recovery against the real DynamoDB Local and SQS emulator. Each
 * failpoint on the inbound, job, recovery and lead paths is fired once, then the provider redelivers
 * (or the operator retries) and the recovery schedule runs with the clock moved on: nothing is lost
 * (every job ends done) and nothing is doubled (one message, one job per type, one interaction).
 *
 * This file gets a private `inbound` table and jobs queue, so its recovery sweeps (which see every
 * stale job in the table) never touch the work of test files running beside it.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobDeps, messageJobStore } from '../../../functions/conversations/deps.js';
import { handler as listJobs } from '../../../functions/conversations/handlers/list-jobs.js';
import { handler as putLead } from '../../../functions/conversations/handlers/put-lead.js';
import { handler as recoverSchedule } from '../../../functions/conversations/handlers/recover-jobs-schedule.js';
import { keys } from '../../../functions/conversations/items.js';
import { messageIdFor } from '../../../functions/conversations/store-message.js';
import {
  type JobRing,
  type JobsOutcome,
  MAX_JOB_ATTEMPTS,
  MAX_JOB_GENERATIONS,
  PENDING_GRACE_SECONDS,
  runJobs,
} from '../../../functions/jobs/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock } from '../../../functions/kernel/clock.js';
import { settings, tableName } from '../../../functions/kernel/config.js';
import {
  armFailpoints,
  clearFailpoints,
  FailpointCrashError,
  listFailpoints,
} from '../../../functions/kernel/failpoints.js';
import { handler as processJob } from '../../../functions/replies/handlers/process-job.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { raceTrials } from '../../support/race.js';
import {
  apiCall,
  cloudCall,
  cloudText,
  createTenant,
  drainQueue,
  ghlPayload,
  invoke,
  lambdaContext,
  privateInboundJobs,
  settleJobs,
  type TestTenant,
  tenantConversations,
  tokenCall,
} from '../conversations/inbound-support.js';

let env: Awaited<ReturnType<typeof privateInboundJobs>>;
let tenant: TestTenant;

beforeAll(async () => {
  env = await privateInboundJobs('inbound-jobs');
  tenant = await createTenant();
});

afterEach(() => clearFailpoints());

afterAll(() => env.stop());

const drain = () => drainQueue(env.sqs, env.queueUrl, processJob);
const recover = () =>
  recoverSchedule({}, lambdaContext) as Promise<{ requeued: number; staleReset: number }>;
/** Moves this process's clock past the pending grace (and every lease) so the sweep sees the work. */
const pastGrace = () =>
  advanceSystemClock((Math.max(PENDING_GRACE_SECONDS, settings.leaseSeconds) + 1) * 1000);

async function partition(messageId: string) {
  return messageJobStore().readPartition(messageId);
}

const settle = (messageId: string) => settleJobs(env, messageId);

async function expectExactlyOnce(messageId: string, t: TestTenant = tenant) {
  const { message, jobs, interactions } = await partition(messageId);
  expect(message).toBeDefined();
  expect(jobs.map((j) => [j.jobType, j.status]).sort()).toEqual([
    ['ai_triage', 'done'],
    ['lead_match', 'done'],
  ]);
  expect(interactions).toHaveLength(1);
  expect(interactions[0]).toMatchObject({ source: 'background_job:ai_triage' });
  const conversation = (await tenantConversations(t.tenantId)).find(
    (c) => c.conversationId === message?.conversationId,
  );
  return conversation;
}

function deliverCloud(wamid: string, from = '972509990001') {
  return invoke(whatsapp, cloudCall(cloudText(tenant, { wamid, from })));
}

describe('jobs', () => {
  it('ai_triage records one interaction with tokens, latency and source = background_job:ai_triage', async () => {
    const wamid = `wamid.${randomUUID()}`;
    await deliverCloud(wamid);
    await drain();
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    await expectExactlyOnce(messageId);
    const { interactions } = await partition(messageId);
    expect(interactions[0]).toMatchObject({ model: 'gpt-4o-mini', label: 'sales_lead' });
    expect(interactions[0]?.promptTokens).toBeGreaterThan(0);
    expect(interactions[0]?.completionTokens).toBeGreaterThan(0);
    expect(interactions[0]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('a ring of the shape before one ring a message (one `jobType`), still in flight at a deployment, runs that job', async () => {
    const wamid = `wamid.${randomUUID()}`;
    // The filing's own ring is lost (the crash after storing), so only the old-shape rings ring.
    armFailpoints({ 'inbound.after-message-stored': { probability: 1, times: 1 } });
    await expect(deliverCloud(wamid)).rejects.toBeInstanceOf(FailpointCrashError);
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    for (const jobType of ['lead_match', 'ai_triage']) {
      await env.sqs.send(
        new SendMessageCommand({
          QueueUrl: env.queueUrl,
          MessageBody: JSON.stringify({ tenantId: tenant.tenantId, messageId, jobType }),
          MessageGroupId: messageId,
          MessageDeduplicationId: `old-${messageId}-${jobType}`,
        }),
      );
    }
    await drain();
    await expectExactlyOnce(messageId);
  });

  it('declares a failpoint between every pair of durable effects on these paths', () => {
    const names = listFailpoints().map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'inbound.after-message-claimed',
        'inbound.after-message-stored',
        'inbound.after-job-reset',
        'jobs.after-claim',
        'jobs.lead_match.after-attach',
        'jobs.ai_triage.after-model-call',
        'recovery.after-stale-reset',
        'recovery.after-requeue',
        'leads.after-lead-saved',
        'conversations.after-rekey',
        'conversations.after-merge-marked',
        'conversations.after-messages-moved',
      ]),
    );
  });
});

describe('a crash at each failpoint, then redelivery → nothing lost or doubled', () => {
  it('inbound.after-message-claimed: the retry files the claimed message once, counted once', async () => {
    const wamid = `wamid.${randomUUID()}`;
    const from = `97258${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    armFailpoints({ 'inbound.after-message-claimed': { probability: 1, times: 1 } });
    await expect(deliverCloud(wamid, from)).rejects.toBeInstanceOf(FailpointCrashError);
    const again = await deliverCloud(wamid, from);
    // The claim alone is not a stored message: the retry files it and says so.
    expect(again.json).toMatchObject({ received: 1, stored: 1, deduped: 0 });
    const third = await deliverCloud(wamid, from);
    expect(third.json).toMatchObject({ received: 1, deduped: 1 });
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    await settle(messageId);
    const conversation = await expectExactlyOnce(messageId);
    expect(conversation?.messageCount).toBe(1);
  });

  it('inbound.after-message-claimed: a claimed but unfiled message is no message to its jobs endpoint (404) until filed', async () => {
    const wamid = `wamid.${randomUUID()}`;
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    const jobsOf = () =>
      invoke(
        listJobs,
        apiCall(tenant.apiKey, {
          method: 'GET',
          routeKey: 'GET /v1/messages/{messageId}/jobs',
          path: `/v1/messages/${messageId}/jobs`,
          pathParameters: { messageId },
        }),
      );
    armFailpoints({ 'inbound.after-message-claimed': { probability: 1, times: 1 } });
    await expect(deliverCloud(wamid)).rejects.toBeInstanceOf(FailpointCrashError);
    // The claim is there, and expires unless a redelivery files it.
    const claim = (await partition(messageId)).message;
    expect(claim?.expiresAt).toBeGreaterThan(Date.now() / 1000 + 7 * 24 * 3600);
    expect((await jobsOf()).status).toBe(404);
    await deliverCloud(wamid);
    const filed = await jobsOf();
    expect(filed.status).toBe(200);
    expect((filed.json as { jobs: unknown[] }).jobs).toHaveLength(2);
    expect((await partition(messageId)).message?.expiresAt).toBeUndefined();
  });

  it('inbound.after-message-stored: the jobs were never enqueued; the sweep finds them', async () => {
    const wamid = `wamid.${randomUUID()}`;
    armFailpoints({ 'inbound.after-message-stored': { probability: 1, times: 1 } });
    await expect(deliverCloud(wamid)).rejects.toBeInstanceOf(FailpointCrashError);
    const again = await deliverCloud(wamid);
    expect(again.json).toMatchObject({ received: 1, deduped: 1 });
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    await settle(messageId);
    const conversation = await expectExactlyOnce(messageId);
    expect(conversation?.messageCount).toBeGreaterThanOrEqual(1);
  });

  it('inbound.after-job-reset: a reset job whose enqueue was lost still runs', async () => {
    const t = await createTenant();
    const body = JSON.stringify(ghlPayload(t, { contact_id: `c-${randomUUID()}` }));
    const first = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    const messageId = first.json.messageId as string;
    await drain();
    // The triage ended failed for good (lead_match is done, so the message left the sweep index).
    await ddb.send(
      new UpdateCommand({
        TableName: tableName('inbound'),
        Key: keys.message(messageId),
        UpdateExpression:
          'SET jobs.ai_triage.#s = :failed, jobs.ai_triage.attempts = :three REMOVE sweepPk, sweepAt',
        ConditionExpression: 'jobs.lead_match.#s = :done',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':failed': 'failed', ':three': 3, ':done': 'done' },
      }),
    );
    armFailpoints({ 'inbound.after-job-reset': { probability: 1, times: 1 } });
    await expect(
      invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken)),
    ).rejects.toBeInstanceOf(FailpointCrashError);
    const again = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    expect(again.json).toMatchObject({ deduped: true, messageId });
    await settle(messageId);
    const { jobs, interactions } = await partition(messageId);
    expect(jobs.find((j) => j.jobType === 'ai_triage')).toMatchObject({
      status: 'done',
      generation: 2,
    });
    // One interaction per generation run that finished: the first run and the re-run.
    expect(interactions).toHaveLength(2);
  });

  for (const point of ['jobs.after-claim', 'jobs.ai_triage.after-model-call'] as const) {
    it(`${point}: the worker died mid-job; the expired lease is recovered and the job runs once more`, async () => {
      const wamid = `wamid.${randomUUID()}`;
      await deliverCloud(wamid);
      armFailpoints({ [point]: { probability: 1, times: 1 } });
      await expect(drain()).rejects.toBeInstanceOf(FailpointCrashError);
      await deliverCloud(wamid); // the provider retries meanwhile: a duplicate, nothing else
      const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
      await settle(messageId);
      await expectExactlyOnce(messageId);
    });
  }

  it('jobs.lead_match.after-attach: attached but not done; the re-run finds it attached', async () => {
    const t = await createTenant();
    const leadAnswer = await invoke(
      putLead,
      apiCall(t.apiKey, {
        method: 'PUT',
        routeKey: 'PUT /v1/leads/{leadId}',
        path: '/v1/leads/L7',
        pathParameters: { leadId: 'L7' },
        body: JSON.stringify({ name: 'Lia', phones: ['+972509990077'] }),
      }),
    );
    expect(leadAnswer.status).toBe(200);
    const wamid = `wamid.${randomUUID()}`;
    await invoke(whatsapp, cloudCall(cloudText(t, { wamid, from: '972509990077' })));
    armFailpoints({ 'jobs.lead_match.after-attach': { probability: 1, times: 1 } });
    await expect(drain()).rejects.toBeInstanceOf(FailpointCrashError);
    const messageId = messageIdFor(t.tenantId, `wamid:${wamid}`);
    await settle(messageId);
    const conversation = await expectExactlyOnce(messageId, t);
    expect(conversation).toMatchObject({ leadId: 'L7', leadName: 'Lia', messageCount: 1 });
    expect(await tenantConversations(t.tenantId)).toHaveLength(1);
  });

  it('recovery.after-stale-reset and recovery.after-requeue: a sweep that dies is finished by the next', async () => {
    const wamid = `wamid.${randomUUID()}`;
    armFailpoints({ 'inbound.after-message-stored': { probability: 1, times: 1 } });
    await expect(deliverCloud(wamid)).rejects.toBeInstanceOf(FailpointCrashError);
    pastGrace();
    armFailpoints({ 'recovery.after-requeue': { probability: 1, times: 1 } });
    await expect(recover()).rejects.toBeInstanceOf(FailpointCrashError);
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    // A worker dies mid-job, then the sweep that resets it dies too.
    armFailpoints({ 'jobs.after-claim': { probability: 1, times: 1 } });
    await expect(drain()).rejects.toBeInstanceOf(FailpointCrashError);
    pastGrace();
    armFailpoints({ 'recovery.after-stale-reset': { probability: 1, times: 1 } });
    await expect(recover()).rejects.toBeInstanceOf(FailpointCrashError);
    await settle(messageId);
    await expectExactlyOnce(messageId);
  });

  for (const point of [
    'leads.after-lead-saved',
    'conversations.after-rekey',
    'conversations.after-merge-marked',
    'conversations.after-messages-moved',
  ]) {
    it(`${point}: PUT /v1/leads crashed; the retry completes the attach and merge`, async () => {
      const t = await createTenant();
      await invoke(
        whatsapp,
        cloudCall(cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972509990101' })),
      );
      await invoke(
        whatsapp,
        cloudCall(cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972509990102' })),
      );
      const put = () =>
        invoke(
          putLead,
          apiCall(t.apiKey, {
            method: 'PUT',
            routeKey: 'PUT /v1/leads/{leadId}',
            path: '/v1/leads/L1',
            pathParameters: { leadId: 'L1' },
            body: JSON.stringify({ name: 'Ron', phones: ['+972509990101', '+972509990102'] }),
          }),
        );
      armFailpoints({ [point]: { probability: 1, times: 1 } });
      await expect(put()).rejects.toBeInstanceOf(FailpointCrashError);
      expect((await put()).status).toBe(200);
      const listed = await tenantConversations(t.tenantId);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ leadId: 'L1', leadName: 'Ron', messageCount: 2 });
    });
  }
});

describe('a duplicate storm while a job is failed (issue 7.12)', () => {
  it('resets the failed job a bounded number of times: the attempt cap holds across duplicates', async () => {
    const t = await createTenant();
    const body = JSON.stringify(ghlPayload(t, { contact_id: `c-${randomUUID()}` }));
    const first = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    const messageId = first.json.messageId as string;
    const ring = { tenantId: t.tenantId, messageId, jobTypes: ['ai_triage' as const] };
    const deps = jobDeps();
    await fetch(`${env.ai.url}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ openai: { errorRate: 1 } }),
    });
    let runs = 0;
    try {
      // Ten rounds of "run the job until it stops being claimable, then a duplicate arrives".
      for (let round = 0; round < 10; round++) {
        for (;;) {
          const outcome = await runJobs(deps, ring).catch(() => ({ ai_triage: 'retry' }));
          if (outcome.ai_triage === 'skipped') break;
          runs += 1;
          if (runs > 100) throw new Error('the job never stops running');
        }
        const dup = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
        expect(dup.json).toMatchObject({ deduped: true, messageId });
      }
    } finally {
      await fetch(`${env.ai.url}/_sim/faults`, { method: 'DELETE' });
    }
    expect(runs).toBeLessThanOrEqual(MAX_JOB_ATTEMPTS * MAX_JOB_GENERATIONS);
    const job = (await partition(messageId)).jobs.find((j) => j.jobType === 'ai_triage');
    expect(job?.status).toBe('failed');
  });
});

describe('one ring delivered to three consumers at once (issue 25: one claim, one settle a ring)', () => {
  /** The ring the webhook enqueued for the message, taken off the queue (the doorbell itself). */
  async function ringOf(messageId: string): Promise<JobRing> {
    for (let i = 0; i < 20; i++) {
      const out = await env.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
        }),
      );
      for (const m of out.Messages ?? []) {
        const body = JSON.parse(m.Body ?? '{}') as JobRing;
        await env.sqs.send(
          new DeleteMessageCommand({ QueueUrl: env.queueUrl, ReceiptHandle: m.ReceiptHandle }),
        );
        if (body.messageId === messageId) return body;
      }
    }
    throw new Error(`no ring of ${messageId} on the queue`);
  }

  it('each job is claimed, run and done once, one interaction; half the trials race the subset claim (lead_match already done)', async () => {
    await drain();
    let n = 3_000_000 + Math.floor(Math.random() * 1_000_000);
    let trial = 0;
    await raceTrials({
      trials: 16,
      maxStaggerMs: 15,
      setup: async () => {
        const subset = trial++ % 2 === 1;
        const wamid = `wamid.${randomUUID()}`;
        await deliverCloud(wamid, `97254${String(n++).padStart(7, '0')}`);
        const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
        const ring = await ringOf(messageId);
        // Filing rings every job of the message in one queue message.
        expect(ring.jobTypes).toEqual(['lead_match', 'ai_triage']);
        // A first run settled lead_match alone: each contender's first write is refused, and the
        // contenders race for ai_triage in the write the refusal's item chooses.
        if (subset) await runJobs(jobDeps(), { ...ring, jobTypes: ['lead_match'] });
        const runs = { lead_match: 0, ai_triage: 0 };
        const base = jobDeps();
        const deps = {
          ...base,
          work: {
            lead_match: (...args: Parameters<typeof base.work.lead_match>) => {
              runs.lead_match += 1;
              return base.work.lead_match(...args);
            },
            ai_triage: (...args: Parameters<typeof base.work.ai_triage>) => {
              runs.ai_triage += 1;
              return base.work.ai_triage(...args);
            },
          },
        };
        return { ring, messageId, subset, runs, deps };
      },
      contenders: ({ ring, deps }) => [1, 2, 3].map(() => () => runJobs(deps, ring)),
      check: async ({ messageId, subset, runs }, outcomes) => {
        const answers = outcomes.map((o) => {
          expect(o.status).toBe('fulfilled');
          return (o as PromiseFulfilledResult<JobsOutcome>).value;
        });
        expect(runs).toEqual({ lead_match: subset ? 0 : 1, ai_triage: 1 });
        expect(answers.filter((a) => a.lead_match === 'done')).toHaveLength(subset ? 0 : 1);
        expect(answers.filter((a) => a.ai_triage === 'done')).toHaveLength(1);
        const { message, jobs, interactions } = await partition(messageId);
        expect(jobs.map((j) => [j.jobType, j.status, j.attempts]).sort()).toEqual([
          ['ai_triage', 'done', 1],
          ['lead_match', 'done', 1],
        ]);
        expect(interactions).toHaveLength(1);
        // The settle that left both done left the sweep index too.
        expect(message?.sweepAt).toBeUndefined();
      },
    });
  }, 120_000);
});
