/**
 * Reply flows of the crash matrix: four replies of one conversation from the operator's POST to
 * `sent`, with every `reply.*` failpoint armed once in turn. The driver does what production does
 * after a crash: the operator retries the POST (same Idempotency-Key) and the retry route, a crashed
 * doorbell comes back (a private FIFO queue, 1 s visibility timeout), the provider's status webhooks
 * (echoing the reply id) are delivered, the reconcile schedule runs, and the clock seam jumps past
 * leases and the reconcile window between rounds. The tenant's policy is `retry_once`, so the
 * release path of the reconcile sweep is crossed.
 *
 * - `plain`: sent at the first call.
 * - `refused`: the first call refused as transient (nothing sent): requeued, sent again.
 * - `lost`: the first call never reaches the provider but its answer is "lost" (unknown): after the
 *   window, retried once — the provider has it once.
 * - `failed`: the first call refused permanently: `failed`, then an operator's retry sends it.
 *
 * Invariants: the provider holds exactly one accepted send per reply, each reply is `sent` (or
 * further) with that send's id, and the conversation lists each reply once.
 */
import { randomUUID } from 'node:crypto';
import {
  applyOutboundStatus,
  DynamoDbConversationStore,
  messageIdFor,
} from '../../functions/conversations/index.js';
import { ddb } from '../../functions/kernel/clients.js';
import { tableName } from '../../functions/kernel/config.js';
import { armOnce, firedCount } from '../../functions/kernel/failpoints.js';
import type { ReplyChannel } from '../../functions/replies/channel.js';
import { replyIdFor } from '../../functions/replies/items.js';
import { FP_RECONCILE_AFTER_REQUEUE, reconcileReplies } from '../../functions/replies/reconcile.js';
import {
  createReply,
  FP_CREATE_AFTER_STORED,
  FP_RETRY_AFTER_REQUEUED,
  retryReply,
} from '../../functions/replies/reply-store.js';
import {
  FP_SEND_AFTER_ACCEPTED,
  FP_SEND_AFTER_CLAIM,
  FP_SEND_AFTER_REJECTED,
  FP_SEND_AFTER_STORED,
  sendReply,
} from '../../functions/replies/sender.js';
import { messageKeys } from '../../functions/webhooks/index.js';
import {
  privateFifoQueue,
  startWhatsAppSimulator,
} from '../integration/campaigns/campaign-support.js';
import {
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
  simChannel,
} from '../integration/replies/replies-support.js';
import { drainQueue, untilItLands } from './crash-driver.js';
import type { CrashFlow } from './flow.js';

const MAX_ROUNDS = 10;
const DONE = new Set(['sent', 'delivered', 'read']);
const KINDS = ['plain', 'refused', 'lost', 'failed'] as const;

let simUrl: Promise<string> | undefined;
function simulator(): Promise<string> {
  simUrl ??= startWhatsAppSimulator('crash-replies').then((sim) => sim.url);
  return simUrl;
}

function fail(message: string): never {
  throw new Error(message);
}

async function runReplies(point: string): Promise<void> {
  const url = await simulator();
  const base = await replyWorld();
  const queueUrl = await privateFifoQueue('cm-replies', {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 50,
  });
  const world = { ...base, replies: { ...base.replies, queueUrl } };
  const tenantId = world.tenant.tenantId;
  const ids = Object.fromEntries(
    KINDS.map((kind) => [kind, replyIdFor(tenantId, `${kind}-${randomUUID()}`)]),
  ) as Record<(typeof KINDS)[number], string>;
  const keyOf = new Map(KINDS.map((kind) => [ids[kind], kind]));
  const real = simChannel(url);
  const firstCall = new Set<string>();
  const channel: ReplyChannel = {
    name: 'whatsapp',
    async send(send) {
      const first = !firstCall.has(send.messageId);
      firstCall.add(send.messageId);
      const kind = keyOf.get(send.messageId);
      if (first && kind === 'refused') {
        return {
          kind: 'rejected',
          retry: true,
          httpStatus: 500,
          code: '131000',
          message: 'transient',
        };
      }
      if (first && kind === 'failed') {
        return {
          kind: 'rejected',
          retry: false,
          httpStatus: 400,
          code: '131026',
          message: 'undeliverable',
        };
      }
      if (first && kind === 'lost') return { kind: 'unknown', reason: 'ECONNRESET' };
      return real.send(send);
    },
  };
  const sends = async () => {
    const out = (await (await fetch(`${url}/_sim/whatsapp/messages`)).json()) as {
      messages: Array<{ wamid: string; bizOpaqueCallbackData?: string }>;
    };
    return out.messages.filter((m) => keyOf.has(m.bizOpaqueCallbackData ?? ''));
  };

  armOnce(point);
  const operatorRetried = new Set<string>();
  const applied = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // The operator's POSTs, retried with the same key until answered.
    for (const kind of KINDS) {
      await untilItLands(() =>
        createReply(world.replies, {
          tenantId,
          conversationId: world.conversationId,
          messageId: ids[kind],
          request: { body: `reply ${kind}` },
          channels: { whatsapp: world.tenant.phoneNumberId },
        }),
      );
    }
    await drainQueue(queueUrl, 'ReplyRetryError', async (body) => {
      await sendReply(
        { ...senderDeps(world, channel), inlineRetries: 0 },
        body as { tenantId: string; messageId: string },
      );
    });
    // The provider's status webhooks, echoing the reply id.
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
    // The operator retries what failed (once per reply), until the route answers.
    const failed = await replyOf(ids.failed);
    if (failed?.status === 'failed' && !operatorRetried.has(ids.failed)) {
      await untilItLands(async () => {
        try {
          await retryReply(world.replies, tenantId, ids.failed);
        } catch (error) {
          if ((error as { status?: number }).status !== 409) throw error;
        }
      });
      operatorRetried.add(ids.failed);
    }
    const states = await Promise.all(KINDS.map((kind) => replyOf(ids[kind])));
    if (states.every((r) => r && DONE.has(r.status))) break;
    await untilItLands(() => reconcileReplies(reconcileDeps(world, channel, 'retry_once')));
    world.clock.advance(700_000);
  }

  if (firedCount(point) !== 1) fail(`${point} fired ${firedCount(point)} times, expected 1`);
  const accepted = await sends();
  for (const kind of KINDS) {
    const mine = accepted.filter((s) => s.bizOpaqueCallbackData === ids[kind]);
    if (mine.length !== 1) fail(`reply ${kind} was accepted ${mine.length} times, expected once`);
    const reply = await replyOf(ids[kind]);
    if (!reply || !DONE.has(reply.status)) fail(`reply ${kind} ended ${reply?.status}`);
    if (reply.providerMessageId !== mine[0]?.wamid) fail(`reply ${kind} holds another provider id`);
  }
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const outs = (await store.listMessages(world.conversationId, { limit: 200 })).messages.filter(
    (m) => m.direction === 'out',
  );
  if (outs.length !== KINDS.length) fail(`the thread lists ${outs.length} replies, expected 4`);
}

const flows: CrashFlow[] = [
  {
    name: 'reply',
    failpoints: [
      FP_CREATE_AFTER_STORED,
      FP_SEND_AFTER_CLAIM,
      FP_SEND_AFTER_ACCEPTED,
      FP_SEND_AFTER_STORED,
      FP_SEND_AFTER_REJECTED,
      FP_RETRY_AFTER_REQUEUED,
      FP_RECONCILE_AFTER_REQUEUE,
    ],
    run: runReplies,
  },
];
export default flows;
