/**
 * The reply flows of the crash matrix, driven by one loop: a channel's flow says only what differs
 * (how its replies come to exist, how the provider's record of sends is read and matched to a reply,
 * what the provider posts back for a send), and this driver does what production does after a
 * crash, round after round until every reply is done: the replies are made again (the operator's
 * POST repeated, or the job's ring redelivered), the doorbell queue is drained through `sendReply`
 * (a private FIFO queue, 1 s visibility timeout), the provider's echoes and status webhooks are
 * delivered once per send, the operator retries a reply that ended `failed` (once), the reconcile
 * schedule runs and the clock seam jumps past leases and the reconcile window.
 *
 * Invariants, for every flow: the armed point fired exactly once; the provider accepted each reply
 * exactly once; each reply ends `sent` (or further) holding that send's id; the conversation lists
 * exactly the flow's replies as its outbound messages, each once. A flow adds its own in `verify`.
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
import type { ReplyChannel, ReplySend, ReplySendResult } from '../../functions/replies/channel.js';
import { replyIdFor } from '../../functions/replies/items.js';
import { FP_RECONCILE_AFTER_REQUEUE, reconcileReplies } from '../../functions/replies/reconcile.js';
import {
  type CreateReplyInput,
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
import { privateFifoQueue } from '../integration/campaigns/campaign-support.js';
import {
  type ReplyWorld,
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
} from '../integration/replies/replies-support.js';
import { drainQueue, untilItLands } from './crash-driver.js';

const MAX_ROUNDS = 10;
const DONE = new Set(['sent', 'delivered', 'read']);

/** Every failpoint an operator's reply passes through, from the POST to the reconcile sweep. */
export const OPERATOR_REPLY_FAILPOINTS: readonly string[] = [
  FP_CREATE_AFTER_STORED,
  FP_SEND_AFTER_CLAIM,
  FP_SEND_AFTER_ACCEPTED,
  FP_SEND_AFTER_STORED,
  FP_SEND_AFTER_REJECTED,
  FP_RETRY_AFTER_REQUEUED,
  FP_RECONCILE_AFTER_REQUEUE,
];

export function fail(message: string): never {
  throw new Error(message);
}

/** A reply world whose doorbells go to a private queue of the flow's own (1 s visibility timeout). */
export async function crashReplyWorld(queueName: string): Promise<ReplyWorld> {
  const base = await replyWorld();
  const queueUrl = await privateFifoQueue(queueName, {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 50,
  });
  return { ...base, replies: { ...base.replies, queueUrl } };
}

/**
 * `real`, except that the first call for each reply is answered by `first` where it answers
 * (a refusal, a lost answer): later calls, and first calls it passes over, reach `real`.
 */
export function scriptedFirstCall(
  real: ReplyChannel,
  first: (send: ReplySend) => Promise<ReplySendResult | undefined>,
): ReplyChannel {
  const called = new Set<string>();
  return {
    name: real.name,
    ...(real.findSent ? { findSent: real.findSent } : {}),
    async send(send) {
      const isFirst = !called.has(send.messageId);
      called.add(send.messageId);
      return (isFirst ? await first(send) : undefined) ?? real.send(send);
    },
  };
}

/** A provider's refusal of a send (nothing was sent): `retry` for a transient one. */
export function refusal(
  retry: boolean,
  httpStatus: number,
  code: string,
  message: string,
): ReplySendResult {
  return { kind: 'rejected', retry, httpStatus, code, message };
}

/**
 * One operator reply a kind (`plain`, `refused`, …, and always `failed`), under ids unique to the run,
 * and the parts of their flow: the operator's POST of each, retried with the same key until
 * answered; the operator's retry of the `failed` one; the tenant's `retry_once` policy, and a clock
 * that jumps past the reconcile window each round.
 */
export function operatorReplies<K extends string>(
  world: ReplyWorld,
  kinds: readonly (K | 'failed')[],
  post: (kind: K | 'failed') => Pick<CreateReplyInput, 'request' | 'channels'>,
) {
  if (!kinds.includes('failed')) {
    fail('operator replies need a `failed` one for the operator to retry');
  }
  const run = randomUUID();
  const ids = Object.fromEntries(
    kinds.map((kind) => [kind, replyIdFor(world.tenant.tenantId, `${kind}-${run}`)]),
  ) as Record<K | 'failed', string>;
  const parts = {
    replies: kinds.map((kind) => ({ id: ids[kind], name: `reply ${kind}` })),
    create: async () => {
      for (const kind of kinds) {
        await untilItLands(() =>
          createReply(world.replies, {
            tenantId: world.tenant.tenantId,
            conversationId: world.conversationId,
            messageId: ids[kind],
            ...post(kind),
          }),
        );
      }
    },
    operatorRetries: [ids.failed],
    policy: 'retry_once',
    clockStepMs: 700_000,
  } satisfies Partial<ReplyFlow<unknown>>;
  return { ids, kindOf: new Map(kinds.map((kind) => [ids[kind], kind])), parts };
}

/** A send in the WhatsApp Cloud simulator's record: the reply id rides as `biz_opaque_callback_data`. */
export interface CloudSend {
  readonly wamid: string;
  readonly bizOpaqueCallbackData?: string;
}

/**
 * The WhatsApp Cloud provider's side of a flow: its record of the sends whose reply id `ours`
 * accepts, matched by that id, and the `sent` status webhook it posts for each.
 */
export function whatsappCloudProvider(
  url: string,
  world: ReplyWorld,
  ours: (replyId: string) => boolean,
): Pick<ReplyFlow<CloudSend>, 'sends' | 'sendId' | 'isSendOf' | 'deliver'> {
  const tenantId = world.tenant.tenantId;
  return {
    sends: async () => {
      const out = (await (await fetch(`${url}/_sim/whatsapp/messages`)).json()) as {
        messages: CloudSend[];
      };
      return out.messages.filter((m) => ours(m.bizOpaqueCallbackData ?? ''));
    },
    sendId: (send) => send.wamid,
    isSendOf: (send, replyId) => send.bizOpaqueCallbackData === replyId,
    deliver: async (send) => {
      await applyOutboundStatus(world.inbound, tenantId, {
        handle: send.bizOpaqueCallbackData ?? '',
        echoMessageId: messageIdFor(tenantId, messageKeys.cloud(send.wamid)),
        providerMessageId: send.wamid,
        status: 'sent',
      });
    },
  };
}

export interface TrackedReply {
  readonly id: string;
  /** How failures name it: `reply plain`, `the AI reply`. */
  readonly name: string;
}

export interface ReplyFlow<S> {
  readonly world: ReplyWorld;
  readonly channel: ReplyChannel;
  readonly replies: readonly TrackedReply[];
  /** Makes the replies exist as their source would, again every round (it must be idempotent). */
  create(): Promise<void>;
  /** The provider's record of this run's accepted sends. */
  sends(): Promise<S[]>;
  /** The provider's id of a send (what the reply must end holding). */
  sendId(send: S): string;
  /** Whether `send` is the provider's send of the reply `replyId`. */
  isSendOf(send: S, replyId: string): boolean;
  /** What the provider posts back for one accepted send (a status webhook, an echo): once a send. */
  deliver?(send: S): Promise<void>;
  /** Replies the operator retries, once each, when they are `failed`. */
  readonly operatorRetries?: readonly string[];
  /** The tenant's answer to an unknown outcome, as the reconcile schedule reads it. */
  readonly policy: 'hold' | 'retry_once';
  /** How far the clock jumps between rounds (past the leases the flow must outlive). */
  readonly clockStepMs: number;
  /** What else must hold before the rounds stop (every reply done is always required). */
  settled?(): Promise<boolean>;
  /** The flow's own invariants, checked after the common ones. */
  verify?(): Promise<void>;
}

/** Arms `point` once, drives `flow` to the end, and checks the invariants (throwing on one broken). */
export async function driveReplyFlow<S>(point: string, flow: ReplyFlow<S>): Promise<void> {
  const { world, channel } = flow;
  const tenantId = world.tenant.tenantId;
  armOnce(point);
  const operatorRetried = new Set<string>();
  const delivered = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    await flow.create();
    await drainQueue(world.replies.queueUrl, 'ReplyRetryError', async (body) => {
      await sendReply(
        { ...senderDeps(world, channel), inlineRetries: 0 },
        body as { tenantId: string; messageId: string },
      );
    });
    if (flow.deliver) {
      for (const send of await flow.sends()) {
        if (delivered.has(flow.sendId(send))) continue;
        await flow.deliver(send);
        delivered.add(flow.sendId(send));
      }
    }
    // The operator retries what failed (once per reply), until the route answers.
    for (const id of flow.operatorRetries ?? []) {
      const reply = await replyOf(id);
      if (reply?.status !== 'failed' || operatorRetried.has(id)) continue;
      await untilItLands(async () => {
        try {
          await retryReply(world.replies, tenantId, id);
        } catch (error) {
          if ((error as { status?: number }).status !== 409) throw error;
        }
      });
      operatorRetried.add(id);
    }
    const states = await Promise.all(flow.replies.map((reply) => replyOf(reply.id)));
    const allDone = states.every((reply) => reply && DONE.has(reply.status));
    if (allDone && (await (flow.settled?.() ?? true))) break;
    await untilItLands(() => reconcileReplies(reconcileDeps(world, channel, flow.policy)));
    world.clock.advance(flow.clockStepMs);
  }

  if (firedCount(point) !== 1) fail(`${point} fired ${firedCount(point)} times, expected 1`);
  const sends = await flow.sends();
  for (const { id, name } of flow.replies) {
    const mine = sends.filter((send) => flow.isSendOf(send, id));
    if (mine.length !== 1) fail(`${name} was accepted ${mine.length} times, expected once`);
    const reply = await replyOf(id);
    if (!reply || !DONE.has(reply.status)) fail(`${name} ended ${reply?.status}`);
    const [only] = mine;
    if (!only || reply.providerMessageId !== flow.sendId(only)) {
      fail(`${name} holds another provider id`);
    }
  }
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const outs = (await store.listMessages(world.conversationId, { limit: 200 })).messages.filter(
    (m) => m.direction === 'out',
  );
  const expected = flow.replies.map((reply) => reply.id);
  if (
    outs.length !== expected.length ||
    !expected.every((id) => outs.some((m) => m.messageId === id))
  ) {
    fail(
      `the thread lists ${outs.length} outbound messages (${outs.map((m) => m.messageId).join(', ')}), expected ${expected.length}: ${expected.join(', ')}`,
    );
  }
  await flow.verify?.();
}
