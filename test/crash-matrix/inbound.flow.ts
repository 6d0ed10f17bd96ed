/**
 * Crash flows of the inbound pipeline (webhook → message → jobs → recovery) and of leads (attach
 * and merge). Each run uses a private inbound table and jobs queue (so recovery sweeps only this
 * flow's work and clock jumps disturb nobody else), arms one failpoint once, drives the flow to the
 * end the way production would (provider retries, queue redelivery, the recovery schedule after a
 * clock jump), and checks the invariants: one message per provider id, one job per message and
 * type, every job done, one listed conversation per person holding all its messages.
 */
import { randomUUID } from 'node:crypto';
import { jobDeps, messageJobStore } from '../../functions/conversations/deps.js';
import { handler as recoverSchedule } from '../../functions/conversations/handlers/recover-jobs-schedule.js';
import { messageIdFor } from '../../functions/conversations/store-message.js';
import { PENDING_GRACE_SECONDS, runJobs } from '../../functions/jobs/index.js';
import { advanceSystemClock, systemClock } from '../../functions/kernel/clock.js';
import { settings } from '../../functions/kernel/config.js';
import { armOnce, FailpointCrashError, firedCount } from '../../functions/kernel/failpoints.js';
import { handler as processJob } from '../../functions/replies/handlers/process-job.js';
import { handler as ghl } from '../../functions/webhooks/handlers/receive-ghl-sms.js';
import { ensureTable } from '../../lib/local/provision.js';
import { envNameForQueue, envNameForTable, tables } from '../../lib/manifest.js';
import {
  createTenant,
  drainQueue,
  ghlPayload,
  invoke,
  lambdaContext,
  leadCall,
  listedConversations,
  privateJobsQueue,
  sendCloud,
  startAiSimulator,
  type TestTenant,
  threadOf,
  tokenCall,
} from '../integration/conversations/inbound-support.js';
import { testDynamoDbClient, testSqsClient } from '../support/emulators.js';
import { pollUntil } from '../support/poll.js';
import { withClockRestored } from '../support/process-state.js';
import type { CrashFlow } from './flow.js';

interface World {
  readonly t: TestTenant;
  readonly queueUrl: string;
  readonly sqs: ReturnType<typeof testSqsClient>;
}

/**
 * Fresh table, queue, AI simulator and tenant for one run; restores the environment and the clock
 * seam after (the run jumps the clock past leases; later flows in the matrix must not inherit it).
 */
export function inWorld(fn: (world: World) => Promise<void>): Promise<void> {
  return withClockRestored(() => inFreshResources(fn));
}

async function inFreshResources(fn: (world: World) => Promise<void>): Promise<void> {
  const tableEnv = envNameForTable('inbound');
  const queueEnv = envNameForQueue('jobs');
  const saved = {
    table: process.env[tableEnv],
    queue: process.env[queueEnv],
    sim: process.env.SIM_BASE_URL,
  };
  const client = testDynamoDbClient();
  const table = `inbound-crash-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, table, tables.inbound);
  client.destroy();
  process.env[tableEnv] = table;
  const sqs = testSqsClient();
  const ai = await startAiSimulator();
  try {
    const queueUrl = await privateJobsQueue(sqs);
    const t = await createTenant();
    await fn({ t, queueUrl, sqs });
  } finally {
    await ai.stop();
    sqs.destroy();
    for (const [name, value] of [
      [tableEnv, saved.table],
      [queueEnv, saved.queue],
      ['SIM_BASE_URL', saved.sim],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

export const expectCrash = async (run: () => Promise<unknown>) => {
  try {
    await run();
  } catch (error) {
    if (error instanceof FailpointCrashError) return;
    throw error;
  }
  throw new Error('expected the armed failpoint to crash the call');
};

const pastGrace = () =>
  advanceSystemClock((Math.max(PENDING_GRACE_SECONDS, settings.leaseSeconds) + 1) * 1000);
const recover = () => recoverSchedule({}, lambdaContext);

/** Drains, and while anything is left, jumps the clock and runs the recovery schedule. */
export async function settle(w: World, messageIds: readonly string[]) {
  await pollUntil(
    async () => {
      await drainQueue(w.sqs, w.queueUrl, processJob).catch((error) => {
        if (!(error instanceof FailpointCrashError)) throw error;
      });
      const parts = await Promise.all(messageIds.map((id) => messageJobStore().readPartition(id)));
      if (parts.every((p) => p.jobs.length > 0 && p.jobs.every((j) => j.status === 'done')))
        return true;
      pastGrace();
      await recover();
      return false;
    },
    { timeoutMs: 60_000, intervalMs: 250, description: 'every job done' },
  );
}

/** One message per provider id, one job per type, all done; one listed conversation per person. */
export async function expectInvariants(
  w: World,
  people: ReadonlyArray<{
    readonly messageIds: readonly string[];
    readonly bodies: readonly string[];
  }>,
) {
  const listed = await listedConversations(w.t);
  if (listed.length !== people.length)
    throw new Error(`expected ${people.length} listed conversations, found ${listed.length}`);
  for (const person of people) {
    const parts = await Promise.all(
      person.messageIds.map((id) => messageJobStore().readPartition(id)),
    );
    const conversations = new Set(parts.map((p) => p.message?.conversationId));
    if (conversations.size !== 1)
      throw new Error('one person’s messages sit in several conversations');
    for (const p of parts) {
      const types = p.jobs.map((j) => `${j.jobType}:${j.status}`).sort();
      if (types.join() !== 'ai_triage:done,lead_match:done')
        throw new Error(`jobs of ${String(p.message?.messageId)}: ${types.join()}`);
    }
    const conversationId = [...conversations][0] as string;
    if (!listed.some((c) => c.conversationId === conversationId))
      throw new Error('the person’s conversation is not listed');
    const thread = (await threadOf(w.t, conversationId)).sort();
    const expected = [...person.bodies].sort();
    if (thread.join('\n') !== expected.join('\n'))
      throw new Error(`thread holds ${thread.length} messages, expected ${expected.length}`);
  }
}

export function expectFired(point: string) {
  if (firedCount(point) !== 1) throw new Error(`${point} fired ${firedCount(point)} times`);
}

const phone = () => `9725${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;

const messageFlow: CrashFlow = {
  name: 'inbound message → jobs → recovery',
  failpoints: [
    'inbound.after-message-claimed',
    'inbound.after-message-stored',
    'jobs.after-claim',
    'jobs.ai_triage.after-model-call',
    'recovery.after-requeue',
  ],
  run: (point) =>
    inWorld(async (w) => {
      const from = phone();
      const wamid = `wamid.${randomUUID()}`;
      const messageId = messageIdFor(w.t.tenantId, `wamid:${wamid}`);
      armOnce(point);
      if (point === 'inbound.after-message-claimed' || point === 'inbound.after-message-stored') {
        await expectCrash(() => sendCloud(w.t, from, 'hello', wamid));
        await sendCloud(w.t, from, 'hello', wamid); // Meta retries
      } else if (point === 'recovery.after-requeue') {
        // The rings go to a queue nobody drains (lost): only the sweep can find the jobs.
        await privateJobsQueue(w.sqs);
        await sendCloud(w.t, from, 'hello', wamid);
        process.env[envNameForQueue('jobs')] = w.queueUrl;
        pastGrace();
        await expectCrash(recover);
      } else {
        await sendCloud(w.t, from, 'hello', wamid);
        await expectCrash(() => drainQueue(w.sqs, w.queueUrl, processJob));
        await sendCloud(w.t, from, 'hello', wamid); // a duplicate meanwhile changes nothing
      }
      expectFired(point);
      await settle(w, [messageId]);
      await expectInvariants(w, [{ messageIds: [messageId], bodies: ['hello'] }]);
    }),
};

const staleFlow: CrashFlow = {
  name: 'a worker dies mid-job; the sweep that resets it dies too',
  failpoints: ['recovery.after-stale-reset'],
  run: (point) =>
    inWorld(async (w) => {
      const wamid = `wamid.${randomUUID()}`;
      const messageId = messageIdFor(w.t.tenantId, `wamid:${wamid}`);
      await sendCloud(w.t, phone(), 'hello', wamid);
      // A worker claims ai_triage and vanishes (no failpoint: it just never finishes).
      await messageJobStore().claim({
        ring: { tenantId: w.t.tenantId, messageId, jobTypes: ['ai_triage'] },
        owner: 'vanished-worker',
        leaseSeconds: settings.leaseSeconds,
        now: systemClock.now(),
      });
      await drainQueue(w.sqs, w.queueUrl, processJob);
      pastGrace();
      armOnce(point);
      await expectCrash(recover);
      expectFired(point);
      await settle(w, [messageId]);
      await expectInvariants(w, [{ messageIds: [messageId], bodies: ['hello'] }]);
    }),
};

const resetFlow: CrashFlow = {
  name: 'a duplicate resets a failed job, then dies before enqueueing it',
  failpoints: ['inbound.after-job-reset'],
  run: (point) =>
    inWorld(async (w) => {
      const body = JSON.stringify(ghlPayload(w.t, { contact_id: `c-${randomUUID()}` }));
      const post = () => invoke(ghl, tokenCall('/webhooks/ghl/sms', body, w.t.webhookToken));
      const first = await post();
      const messageId = first.json.messageId as string;
      const ring = { tenantId: w.t.tenantId, messageId, jobTypes: ['ai_triage' as const] };
      await fetch(`${process.env.SIM_BASE_URL}/_sim/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ openai: { errorRate: 1 } }),
      });
      for (let i = 0; i < 10; i++) {
        const outcome = await runJobs(jobDeps(), ring).catch(() => ({ ai_triage: 'retry' }));
        if (outcome.ai_triage === 'skipped' || outcome.ai_triage === 'failed') break;
      }
      await fetch(`${process.env.SIM_BASE_URL}/_sim/faults`, { method: 'DELETE' });
      armOnce(point);
      await expectCrash(post);
      expectFired(point);
      await settle(w, [messageId]);
      await expectInvariants(w, [{ messageIds: [messageId], bodies: ['Can I see it tomorrow?'] }]);
    }),
};

const leadFlow: CrashFlow = {
  name: 'PUT /v1/leads attaching and merging two phones’ conversations',
  failpoints: [
    'leads.after-lead-saved',
    'conversations.after-rekey',
    'conversations.after-merge-marked',
    'conversations.after-messages-moved',
    'jobs.lead_match.after-attach',
  ],
  run: (point) =>
    inWorld(async (w) => {
      const a = phone();
      const b = phone();
      const wa = `wamid.${randomUUID()}`;
      const wb = `wamid.${randomUUID()}`;
      await sendCloud(w.t, a, 'from a', wa);
      await sendCloud(w.t, b, 'from b', wb);
      const ids = [wa, wb].map((x) => messageIdFor(w.t.tenantId, `wamid:${x}`));
      armOnce(point);
      if (point === 'jobs.lead_match.after-attach') {
        expectOk(await leadCall(w.t, 'L1', { name: 'Ron', phones: [`+${a}`, `+${b}`] }));
        await expectCrash(() => drainQueue(w.sqs, w.queueUrl, processJob));
      } else {
        await expectCrash(() => leadCall(w.t, 'L1', { name: 'Ron', phones: [`+${a}`, `+${b}`] }));
        // A message of the person arrives between the crash and the retry.
        const mid = `wamid.${randomUUID()}`;
        expectOk(await sendCloud(w.t, b, 'between', mid));
        ids.push(messageIdFor(w.t.tenantId, `wamid:${mid}`));
        expectOk(await leadCall(w.t, 'L1', { name: 'Ron', phones: [`+${a}`, `+${b}`] }));
      }
      expectFired(point);
      const next = `wamid.${randomUUID()}`;
      expectOk(await sendCloud(w.t, a, 'after', next));
      ids.push(messageIdFor(w.t.tenantId, `wamid:${next}`));
      await settle(w, ids);
      const bodies = ['from a', 'from b', 'after', ...(ids.length === 4 ? ['between'] : [])];
      await expectInvariants(w, [{ messageIds: ids, bodies }]);
    }),
};

function expectOk(answer: { status: number; text: string }) {
  if (answer.status !== 200) throw new Error(`answered ${answer.status}: ${answer.text}`);
}

export default [messageFlow, staleFlow, resetFlow, leadFlow] satisfies CrashFlow[];
