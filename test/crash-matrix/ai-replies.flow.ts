/**
 * The AI reply flow of the crash matrix: a person's message, its `ai_triage` job for a tenant with
 * `aiReplies: "send"`, the draft created as a reply, rung and sent, with every failpoint on that way
 * armed once in turn. The driver does what production does after a crash: the job comes back once
 * its lease ran out (the clock seam jumps past it), the reply's doorbell comes back (a private FIFO
 * queue, 1 s visibility timeout), the provider's status webhooks are delivered, and the reconcile
 * schedule runs.
 *
 * The loop and the common invariants are the reply driver's (`reply-driver.ts`); the job's ring is
 * this flow's way of creating the reply, and its lease is what the clock outlives each round.
 *
 * Invariants: the job ends `done` naming the reply; the conversation lists exactly one outbound
 * message, the AI reply (named by the inbound message); the provider accepted it exactly once; it
 * ends `sent` with that send's id and its source is `ai`.
 */
import { randomUUID } from 'node:crypto';
import { messageJobStore } from '../../functions/conversations/deps.js';
import { type MessageItem, messageIdFor } from '../../functions/conversations/index.js';
import {
  AFTER_REPLY_CREATED,
  chatCompletion,
  type JobDeps,
  runJobs,
  triage,
} from '../../functions/jobs/index.js';
import { FailpointCrashError } from '../../functions/kernel/failpoints.js';
import { aiReplies } from '../../functions/replies/ai-replies.js';
import { tenantChannels } from '../../functions/replies/deps.js';
import { aiReplyIdFor } from '../../functions/replies/items.js';
import { FP_CREATE_AFTER_STORED } from '../../functions/replies/reply-store.js';
import { FP_SEND_AFTER_ACCEPTED } from '../../functions/replies/sender.js';
import { messageKeys } from '../../functions/webhooks/index.js';
import { startWhatsAppSimulator } from '../integration/campaigns/campaign-support.js';
import { startAiSimulator } from '../integration/conversations/inbound-support.js';
import { fileInbound, replyOf, simChannel } from '../integration/replies/replies-support.js';
import { testTenantStore } from '../support/tenant-store.js';
import type { CrashFlow } from './flow.js';
import { crashReplyWorld, driveReplyFlow, fail, whatsappCloudProvider } from './reply-driver.js';

let waUrl: Promise<string> | undefined;
function whatsappSimulator(): Promise<string> {
  waUrl ??= startWhatsAppSimulator('crash-ai-replies').then((sim) => sim.url);
  return waUrl;
}

async function runAiReply(point: string): Promise<void> {
  const savedSim = process.env.SIM_BASE_URL;
  const ai = await startAiSimulator();
  try {
    await driveAiReply(point, await whatsappSimulator());
  } finally {
    await ai.stop();
    if (savedSim === undefined) delete process.env.SIM_BASE_URL;
    else process.env.SIM_BASE_URL = savedSim;
  }
}

async function driveAiReply(point: string, url: string): Promise<void> {
  const world = await crashReplyWorld('cm-ai-replies');
  const tenantId = world.tenant.tenantId;
  const store = testTenantStore();
  const config = await store.get(tenantId);
  if (!config) fail('tenant missing');
  await store.putConfig(tenantId, { ...config, aiReplies: 'send' });

  const wamid = `wamid.q-${randomUUID()}`;
  await fileInbound(world.inbound, tenantId, world.phone, wamid);
  const messageId = messageIdFor(tenantId, messageKeys.cloud(wamid));
  const replyId = aiReplyIdFor(tenantId, messageId);
  const deps: JobDeps<MessageItem> = {
    store: messageJobStore(),
    clock: world.clock,
    leaseSeconds: 60,
    work: {
      lead_match: async () => ({ result: {} }),
      ai_triage: triage({
        clock: world.clock,
        chat: chatCompletion,
        replies: aiReplies({
          ...world.replies,
          tenant: (id) => store.get(id),
          channelsOf: tenantChannels,
        }),
      }),
    },
  };
  const triageJob = async () =>
    (await messageJobStore().readPartition(messageId)).jobs.find((j) => j.jobType === 'ai_triage');

  await driveReplyFlow(point, {
    world,
    channel: simChannel(url),
    replies: [{ id: replyId, name: 'the AI reply' }],
    // The job's ring, delivered again after a crash (its lease expired: the clock moves a round).
    create: async () => {
      try {
        await runJobs(deps, { tenantId, messageId, jobTypes: ['ai_triage'] });
      } catch (error) {
        if (!(error instanceof FailpointCrashError)) throw error;
      }
    },
    ...whatsappCloudProvider(url, world, (id) => id === replyId),
    policy: 'hold',
    clockStepMs: 61_000,
    settled: async () => (await triageJob())?.status === 'done',
    verify: async () => {
      const job = await triageJob();
      if (job?.status !== 'done' || job.result?.replyMessageId !== replyId) {
        fail(`the job ended ${job?.status} naming ${String(job?.result?.replyMessageId)}`);
      }
      const reply = await replyOf(replyId);
      if (reply?.source !== 'ai') fail(`the AI reply's source is ${reply?.source}`);
    },
  });
}

const flows: CrashFlow[] = [
  {
    name: 'AI reply',
    failpoints: [
      'jobs.after-claim',
      'jobs.ai_triage.after-model-call',
      FP_CREATE_AFTER_STORED,
      AFTER_REPLY_CREATED,
      FP_SEND_AFTER_ACCEPTED,
    ],
    run: runAiReply,
  },
];
export default flows;
