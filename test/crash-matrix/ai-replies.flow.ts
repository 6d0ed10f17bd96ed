/**
 * The AI reply flow of the crash matrix: a person's message, its `ai_triage` job for a tenant with
 * `aiReplies: "send"`, the draft created as a reply, rung and sent, with every failpoint on that way
 * armed once in turn. The driver does what production does after a crash: the job comes back once
 * its lease ran out (the clock seam jumps past it), the reply's doorbell comes back (a private FIFO
 * queue, 1 s visibility timeout), the provider's status webhooks are delivered, and the reconcile
 * schedule runs.
 *
 * Invariants: the job ends `done` naming the reply; the conversation lists exactly one outbound
 * message, the AI reply (named by the inbound message); the provider accepted it exactly once; it
 * ends `sent` with that send's id.
 */
import { randomUUID } from 'node:crypto';
import { messageJobStore } from '../../functions/conversations/deps.js';
import {
  applyOutboundStatus,
  DynamoDbConversationStore,
  type MessageItem,
  messageIdFor,
} from '../../functions/conversations/index.js';
import {
  AFTER_REPLY_CREATED,
  chatCompletion,
  type JobDeps,
  runJob,
  triage,
} from '../../functions/jobs/index.js';
import { ddb } from '../../functions/kernel/clients.js';
import { tableName } from '../../functions/kernel/config.js';
import { armOnce, FailpointCrashError, firedCount } from '../../functions/kernel/failpoints.js';
import { aiReplies } from '../../functions/replies/ai-replies.js';
import { tenantChannels } from '../../functions/replies/deps.js';
import { aiReplyIdFor } from '../../functions/replies/items.js';
import { reconcileReplies } from '../../functions/replies/reconcile.js';
import { FP_CREATE_AFTER_STORED } from '../../functions/replies/reply-store.js';
import { FP_SEND_AFTER_ACCEPTED, sendReply } from '../../functions/replies/sender.js';
import { messageKeys } from '../../functions/webhooks/index.js';
import {
  privateFifoQueue,
  startWhatsAppSimulator,
} from '../integration/campaigns/campaign-support.js';
import { startAiSimulator } from '../integration/conversations/inbound-support.js';
import {
  fileInbound,
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
  simChannel,
} from '../integration/replies/replies-support.js';
import { testTenantStore } from '../support/tenant-store.js';
import { drainQueue } from './crash-driver.js';
import type { CrashFlow } from './flow.js';

const MAX_ROUNDS = 10;
const DONE = new Set(['sent', 'delivered', 'read']);

let waUrl: Promise<string> | undefined;
function whatsappSimulator(): Promise<string> {
  waUrl ??= startWhatsAppSimulator('crash-ai-replies').then((sim) => sim.url);
  return waUrl;
}

function fail(message: string): never {
  throw new Error(message);
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
  const base = await replyWorld();
  const queueUrl = await privateFifoQueue('cm-ai-replies', {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 50,
  });
  const world = { ...base, replies: { ...base.replies, queueUrl } };
  const tenantId = world.tenant.tenantId;
  const store = testTenantStore();
  const config = await store.get(tenantId);
  if (!config) fail('tenant missing');
  await store.putConfig(tenantId, { ...config, aiReplies: 'send' });

  const wamid = `wamid.q-${randomUUID()}`;
  await fileInbound(world.inbound, tenantId, world.phone, wamid);
  const messageId = messageIdFor(tenantId, messageKeys.cloud(wamid));
  const replyId = aiReplyIdFor(tenantId, messageId);
  const channel = simChannel(url);
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
  const sends = async () => {
    const out = (await (await fetch(`${url}/_sim/whatsapp/messages`)).json()) as {
      messages: Array<{ wamid: string; bizOpaqueCallbackData?: string }>;
    };
    return out.messages.filter((m) => m.bizOpaqueCallbackData === replyId);
  };

  armOnce(point);
  const applied = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // The job's ring, delivered again after a crash (its lease expired: the clock moved below).
    try {
      await runJob(deps, { tenantId, messageId, jobType: 'ai_triage' });
    } catch (error) {
      if (!(error instanceof FailpointCrashError)) throw error;
    }
    await drainQueue(queueUrl, 'ReplyRetryError', async (body) => {
      await sendReply(
        { ...senderDeps(world, channel), inlineRetries: 0 },
        body as { tenantId: string; messageId: string },
      );
    });
    for (const entry of await sends()) {
      if (applied.has(entry.wamid)) continue;
      await applyOutboundStatus(world.inbound, tenantId, {
        handle: entry.bizOpaqueCallbackData ?? '',
        echoMessageId: messageIdFor(tenantId, messageKeys.cloud(entry.wamid)),
        providerMessageId: entry.wamid,
        status: 'sent',
      });
      applied.add(entry.wamid);
    }
    const job = (await messageJobStore().readPartition(messageId)).jobs.find(
      (j) => j.jobType === 'ai_triage',
    );
    const reply = await replyOf(replyId);
    if (job?.status === 'done' && reply && DONE.has(reply.status)) break;
    try {
      await reconcileReplies(reconcileDeps(world, channel, 'hold'));
    } catch (error) {
      if (!(error instanceof FailpointCrashError)) throw error;
    }
    world.clock.advance(61_000);
  }

  if (firedCount(point) !== 1) fail(`${point} fired ${firedCount(point)} times, expected 1`);
  const { jobs } = await messageJobStore().readPartition(messageId);
  const job = jobs.find((j) => j.jobType === 'ai_triage');
  if (job?.status !== 'done' || job.result?.replyMessageId !== replyId) {
    fail(`the job ended ${job?.status} naming ${String(job?.result?.replyMessageId)}`);
  }
  const accepted = await sends();
  if (accepted.length !== 1) fail(`the AI reply was accepted ${accepted.length} times`);
  const reply = await replyOf(replyId);
  if (!reply || !DONE.has(reply.status)) fail(`the AI reply ended ${reply?.status}`);
  if (reply.providerMessageId !== accepted[0]?.wamid) fail('the AI reply holds another id');
  if (reply.source !== 'ai') fail(`the AI reply's source is ${reply.source}`);
  const conversations = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const outs = (
    await conversations.listMessages(world.conversationId, { limit: 200 })
  ).messages.filter((m) => m.direction === 'out');
  if (outs.length !== 1 || outs[0]?.messageId !== replyId) {
    fail(`the thread lists ${outs.length} replies, expected the AI reply once`);
  }
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
