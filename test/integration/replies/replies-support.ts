/**
 * What every replies test against the emulators starts from: a tenant with one conversation opened
 * by an inbound WhatsApp message (on a ManualClock), the WhatsApp simulator on a free port, a
 * private `replies` FIFO queue, and the sender and reconcile deps the handlers build.
 */
import { randomUUID } from 'node:crypto';
import {
  type InboundDeps,
  identifyPerson,
  isIdentified,
  storeMessage,
} from '../../../functions/conversations/index.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { readItem } from '../../../functions/kernel/read-item.js';
import { createTokenBucket } from '../../../functions/kernel/token-bucket.js';
import type { ReplyChannel } from '../../../functions/replies/channel.js';
import { whatsappCloudChannel } from '../../../functions/replies/channels/whatsapp-cloud.js';
import { echoKeyOf } from '../../../functions/replies/deps.js';
import { type ReplyItem, replyKeys, toReplyItem } from '../../../functions/replies/items.js';
import type { ReconcileDeps } from '../../../functions/replies/reconcile.js';
import type { ReplyDeps } from '../../../functions/replies/reply-store.js';
import type { ReplySenderDeps } from '../../../functions/replies/sender.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { privateFifoQueue, simClient } from '../campaigns/campaign-support.js';
import { createTenant, type TestTenant } from '../conversations/inbound-support.js';

export interface ReplyWorld {
  readonly clock: ManualClock;
  readonly tenant: TestTenant;
  readonly phone: string;
  readonly conversationId: string;
  readonly inbound: InboundDeps;
  readonly replies: ReplyDeps;
}

let jobsQueue: Promise<string> | undefined;
let repliesQueue: Promise<string> | undefined;

/** A tenant whose person wrote on WhatsApp just now: the 24-hour window is open. */
export async function replyWorld(): Promise<ReplyWorld> {
  const tenant = await createTenant('IL');
  const clock = new ManualClock(Date.now());
  // A queue of its own (not the process-wide env a handler would read): jobs of outbound messages.
  jobsQueue ??= privateFifoQueue('jobs', { visibilityTimeoutSeconds: 1, maxReceiveCount: 10 });
  repliesQueue ??= privateFifoQueue('replies', {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 10,
  });
  const inbound: InboundDeps = {
    ddb,
    sqs,
    clock,
    table: tableName('inbound'),
    jobsQueueUrl: await jobsQueue,
  };
  const phone = `+97250${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  const stored = await fileInbound(inbound, tenant.tenantId, phone, `wamid.in-${randomUUID()}`);
  return {
    clock,
    tenant,
    phone,
    conversationId: stored.conversationId,
    inbound,
    replies: { ddb, sqs, clock, table: tableName('inbound'), queueUrl: await repliesQueue },
  };
}

export function personOf(phone: string) {
  const person = identifyPerson([phone], { defaultCountry: 'IL' });
  if (!isIdentified(person)) throw new Error(`unparseable ${phone}`);
  return person;
}

export function fileInbound(inbound: InboundDeps, tenantId: string, phone: string, wamid: string) {
  return storeMessage(inbound, {
    tenantId,
    channel: 'whatsapp',
    direction: 'in',
    dedupeKey: messageKeys.cloud(wamid),
    providerMessageId: wamid,
    body: 'hello',
    createdAt: new Date(inbound.clock.now()).toISOString(),
    person: personOf(phone),
  });
}

/** The provider's copy of a message the business sent (`direction: "out"`), through the inbound path. */
export function fileEcho(world: ReplyWorld, key: string, providerMessageId: string) {
  return storeMessage(world.inbound, {
    tenantId: world.tenant.tenantId,
    channel: 'whatsapp',
    direction: 'out',
    dedupeKey: key,
    providerMessageId,
    body: 'echo of a reply',
    createdAt: new Date(world.clock.now()).toISOString(),
    person: personOf(world.phone),
  });
}

export function senderDeps(
  world: ReplyWorld,
  channel: ReplyChannel,
): ReplySenderDeps & { echoKeyOf: typeof echoKeyOf } {
  return {
    ddb,
    clock: world.clock,
    table: tableName('inbound'),
    channels: { [channel.name]: channel },
    tokens: createTokenBucket({ ddb, table: tableName('campaigns') }),
    rateOf: async (reply) => ({ bucket: `wa:${reply.from}`, perSecond: 1000 }),
    echoKeyOf,
    owner: `test-${randomUUID()}`,
    leaseSeconds: 60,
    reconcileWindowSeconds: 600,
    sleep: async () => {},
  };
}

export function reconcileDeps(
  world: ReplyWorld,
  channel: ReplyChannel,
  policy: 'hold' | 'retry_once' = 'hold',
): ReconcileDeps {
  return {
    ...world.replies,
    channels: { [channel.name]: channel },
    echoKeyOf,
    unknownOutcome: async () => policy,
    reconcileWindowSeconds: 600,
  };
}

export function simChannel(simUrl: string): ReplyChannel {
  return whatsappCloudChannel(simClient(simUrl));
}

export async function replyOf(messageId: string): Promise<ReplyItem | undefined> {
  return toReplyItem(await readItem(ddb, tableName('inbound'), replyKeys.reply(messageId)));
}
