/**
 * Replies against DynamoDB Local, the SQS emulator and the WhatsApp simulator: created once per
 * Idempotency-Key in the person's one conversation, sent once with the reply id as the provider's
 * callback data, statuses only forward, unknown outcomes held by the tenant's policy until evidence
 * or an operator's retry, and a provider echo never filed as a second message.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyOutboundStatus,
  DynamoDbConversationStore,
  messageIdFor,
} from '../../../functions/conversations/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import type { ReplyChannel } from '../../../functions/replies/channel.js';
import { replyIdFor } from '../../../functions/replies/items.js';
import { reconcileReplies } from '../../../functions/replies/reconcile.js';
import {
  createMessageTo,
  createReply,
  retryReply,
} from '../../../functions/replies/reply-store.js';
import { sendReply } from '../../../functions/replies/sender.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { raceTrials } from '../../support/race.js';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../campaigns/campaign-support.js';
import { leadCall, listedConversations } from '../conversations/inbound-support.js';
import {
  fileEcho,
  fileInbound,
  type ReplyWorld,
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
  simChannel,
} from './replies-support.js';

let sim: WhatsAppSimulator;
beforeAll(async () => {
  sim = await startWhatsAppSimulator('replies');
});
afterAll(async () => {
  await sim?.close();
});

async function setFaults(faults: Record<string, unknown>) {
  const cleared = Object.keys(faults).length === 0;
  await fetch(`${sim.url}/_sim/faults`, {
    method: cleared ? 'DELETE' : 'PUT',
    headers: { 'content-type': 'application/json' },
    ...(cleared ? {} : { body: JSON.stringify({ whatsapp: faults }) }),
  });
}

async function simSendsOf(messageId: string) {
  const out = (await (await fetch(`${sim.url}/_sim/whatsapp/messages`)).json()) as {
    messages: Array<{ wamid: string; bizOpaqueCallbackData?: string }>;
  };
  return out.messages.filter((m) => m.bizOpaqueCallbackData === messageId);
}

async function thread(world: ReplyWorld) {
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  return (await store.listMessages(world.conversationId, { limit: 200 })).messages;
}

function newReply(world: ReplyWorld, key: string = randomUUID(), body = 'Thanks, on it') {
  return createReply(world.replies, {
    tenantId: world.tenant.tenantId,
    conversationId: world.conversationId,
    messageId: replyIdFor(world.tenant.tenantId, key),
    request: { body },
    channels: { whatsapp: world.tenant.phoneNumberId },
  });
}

describe('a reply is created once per Idempotency-Key, in the person’s conversation', () => {
  it('the same key answers the same messageId; another body under it is a mismatch', async () => {
    const world = await replyWorld();
    const first = await newReply(world, 'k1');
    const again = await newReply(world, 'k1');
    expect(again.messageId).toBe(first.messageId);
    await expect(newReply(world, 'k1', 'another body')).rejects.toMatchObject({
      status: 409,
      code: 'idempotency_key_mismatch',
    });
    const outs = (await thread(world)).filter((m) => m.direction === 'out');
    expect(outs).toEqual([
      expect.objectContaining({ messageId: first.messageId, status: 'queued' }),
    ]);
  });

  it('racing creations under one key write one reply', async () => {
    const report = await raceTrials({
      trials: 8,
      setup: () => replyWorld(),
      contenders: (world) => [0, 1, 2, 3].map(() => () => newReply(world, 'same-key')),
      check: async (world, outcomes) => {
        const ids = new Set(
          outcomes.map((o) =>
            o.status === 'fulfilled' ? (o.value as { messageId: string }).messageId : 'x',
          ),
        );
        expect(ids.size).toBe(1);
        expect((await thread(world)).filter((m) => m.direction === 'out')).toHaveLength(1);
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('POST /v1/messages to a new phone, raced by another POST and the person’s first inbound message: one conversation holds all three', async () => {
    const template = { name: 'spring_sale', language: 'en_US' };
    const report = await raceTrials({
      trials: 8,
      // A tenant (its own person already wrote), and a phone it has never seen.
      setup: async () => ({
        world: await replyWorld(),
        phone: `+97252${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`,
      }),
      contenders: ({ world, phone }) => {
        const post = (key: string) => () =>
          createMessageTo(world.replies, {
            tenantId: world.tenant.tenantId,
            target: { e164: phone },
            messageId: replyIdFor(world.tenant.tenantId, key),
            request: { body: '', template },
            channels: { whatsapp: world.tenant.phoneNumberId },
          });
        return [
          post('a'),
          post('b'),
          () =>
            fileInbound(world.inbound, world.tenant.tenantId, phone, `wamid.in-${randomUUID()}`),
        ];
      },
      check: async ({ world }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
        const inbound = outcomes[2] as PromiseFulfilledResult<{ conversationId: string }>;
        const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
        const { messages } = await store.listMessages(inbound.value.conversationId, {
          limit: 10,
        });
        expect(messages.map((m) => m.direction).sort()).toEqual(['in', 'out', 'out']);
        for (const key of ['a', 'b']) {
          const id = replyIdFor(world.tenant.tenantId, key);
          expect((await replyOf(id))?.conversationId).toBe(inbound.value.conversationId);
        }
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('POST /v1/conversations/{id}/messages raced by a lead merge of that conversation: the reply lands in the survivor, never a 409', async () => {
    const report = await raceTrials({
      trials: 10,
      // The person wrote from two phones (two conversations); a lead PUT with both folds the
      // world's conversation into the other's (the first phone's conversation survives).
      setup: async () => {
        const world = await replyWorld();
        const other = `+97253${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
        await fileInbound(world.inbound, world.tenant.tenantId, other, `wamid.in-${randomUUID()}`);
        return { world, other, merged: false, keys: [] as string[] };
      },
      // Replies back to back for as long as the merge runs: one of them reads the conversation
      // before the merge marks it and writes after, the window the 409 came from.
      contenders: (state) => {
        const replyUntilMerged = (lane: string) => async () => {
          for (let i = 0; !state.merged; i++) {
            state.keys.push(`${lane}-${i}`);
            await newReply(state.world, `${lane}-${i}`);
          }
        };
        return [
          () =>
            leadCall(state.world.tenant, 'lead-merging', {
              phones: [state.other, state.world.phone],
            }).finally(() => {
              state.merged = true;
            }),
          replyUntilMerged('a'),
          replyUntilMerged('b'),
        ];
      },
      check: async ({ world, keys }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
        const listed = await listedConversations(world.tenant);
        expect(listed.map((c) => c.messageCount)).toEqual([2 + keys.length]);
        for (const key of keys) {
          const id = replyIdFor(world.tenant.tenantId, key);
          expect((await replyOf(id))?.conversationId).toBe(listed[0]?.conversationId);
        }
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('free-form WhatsApp text is refused 24 hours after the last inbound message; a template is not', async () => {
    const world = await replyWorld();
    world.clock.advance(24 * 3600 * 1000 + 1000);
    await expect(newReply(world)).rejects.toMatchObject({
      status: 422,
      code: 'outside_service_window',
    });
    const templated = await createReply(world.replies, {
      tenantId: world.tenant.tenantId,
      conversationId: world.conversationId,
      messageId: replyIdFor(world.tenant.tenantId, randomUUID()),
      request: { body: '', template: { name: 'follow_up', language: 'en_US' } },
      channels: { whatsapp: world.tenant.phoneNumberId },
    });
    expect(templated.status).toBe('queued');
  });

  it('a channel the tenant does not have is 422 channel_unavailable, and writes nothing', async () => {
    const world = await replyWorld();
    const messageId = replyIdFor(world.tenant.tenantId, randomUUID());
    await expect(
      createReply(world.replies, {
        tenantId: world.tenant.tenantId,
        conversationId: world.conversationId,
        messageId,
        request: { body: 'hi', channel: 'sms' },
        channels: { whatsapp: world.tenant.phoneNumberId },
      }),
    ).rejects.toMatchObject({ status: 422, code: 'channel_unavailable' });
    expect(await replyOf(messageId)).toBeUndefined();
  });
});

describe('a reply is sent at most once', () => {
  it('is sent with its messageId as callback data, and its wamid stored; a second ring sends nothing', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world);
    const deps = senderDeps(world, simChannel(sim.url));
    const doorbell = { tenantId: world.tenant.tenantId, messageId };
    expect(await sendReply(deps, doorbell)).toBe('sent');
    expect(await sendReply(deps, doorbell)).toBe('skipped');
    const sends = await simSendsOf(messageId);
    expect(sends).toHaveLength(1);
    expect(await replyOf(messageId)).toMatchObject({
      status: 'sent',
      providerMessageId: sends[0]?.wamid,
      attempts: 1,
    });
  });

  it('racing deliveries of its doorbell make one provider call', async () => {
    const report = await raceTrials({
      trials: 6,
      setup: async () => {
        const world = await replyWorld();
        const { messageId } = await newReply(world);
        return { world, messageId };
      },
      contenders: ({ world, messageId }) =>
        [0, 1, 2].map(
          () => () =>
            sendReply(senderDeps(world, simChannel(sim.url)), {
              tenantId: world.tenant.tenantId,
              messageId,
            }),
        ),
      check: async ({ messageId }) => {
        expect(await simSendsOf(messageId)).toHaveLength(1);
        expect((await replyOf(messageId))?.status).toBe('sent');
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('a lost answer is never resent blind: held unknown after the window, sent again only by an operator', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world);
    const channel = simChannel(sim.url);
    await setFaults({ lostResponseRate: 1 });
    try {
      expect(
        await sendReply(senderDeps(world, channel), { tenantId: world.tenant.tenantId, messageId }),
      ).toBe('unknown');
    } finally {
      await setFaults({});
    }
    expect((await replyOf(messageId))?.status).toBe('sending');
    await reconcileReplies(reconcileDeps(world, channel));
    expect((await replyOf(messageId))?.status).toBe('sending');
    world.clock.advance(601_000);
    const report = await reconcileReplies(reconcileDeps(world, channel));
    expect(report.held).toBeGreaterThanOrEqual(1);
    expect((await replyOf(messageId))?.status).toBe('unknown');
    expect(await simSendsOf(messageId)).toHaveLength(1);

    await retryReply(world.replies, world.tenant.tenantId, messageId);
    await expect(retryReply(world.replies, world.tenant.tenantId, messageId)).rejects.toMatchObject(
      { status: 409 },
    );
    expect(
      await sendReply(senderDeps(world, channel), { tenantId: world.tenant.tenantId, messageId }),
    ).toBe('sent');
    expect(await simSendsOf(messageId)).toHaveLength(2);
    expect(await replyOf(messageId)).toMatchObject({ status: 'sent', operatorRetries: 1 });
  });

  it('a status echoing the reply id completes a lost answer, and never moves it back', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world);
    const channel = simChannel(sim.url);
    await setFaults({ lostResponseRate: 1 });
    try {
      await sendReply(senderDeps(world, channel), { tenantId: world.tenant.tenantId, messageId });
    } finally {
      await setFaults({});
    }
    const [sent] = await simSendsOf(messageId);
    if (!sent) throw new Error('the simulator accepted nothing');
    const status = (s: 'sent' | 'delivered' | 'read' | 'failed') =>
      applyOutboundStatus(world.inbound, world.tenant.tenantId, {
        handle: messageId,
        echoMessageId: messageIdFor(world.tenant.tenantId, messageKeys.cloud(sent.wamid)),
        providerMessageId: sent.wamid,
        status: s,
      });
    expect(await status('delivered')).toEqual({ matched: true, applied: true });
    expect(await status('sent')).toEqual({ matched: true, applied: false });
    expect(await replyOf(messageId)).toMatchObject({
      status: 'delivered',
      providerMessageId: sent.wamid,
    });
    world.clock.advance(601_000);
    await reconcileReplies(reconcileDeps(world, channel));
    expect((await replyOf(messageId))?.status).toBe('delivered');
  });
});

/** A channel whose provider answers a fixed id (its echo is then filed by the test). */
function fixedIdChannel(providerMessageId: string): ReplyChannel {
  return {
    name: 'whatsapp',
    send: async () => ({ kind: 'accepted', providerMessageId }),
  };
}

describe('an echo of a reply never doubles it', () => {
  it('echo and the send’s record write, fired together in every order: one message, status sent', async () => {
    const report = await raceTrials({
      trials: 12,
      maxStaggerMs: 15,
      setup: async () => {
        const world = await replyWorld();
        const { messageId } = await newReply(world);
        const wamid = `wamid.${randomUUID()}`;
        return { world, messageId, wamid };
      },
      contenders: ({ world, messageId, wamid }) => [
        () =>
          sendReply(senderDeps(world, fixedIdChannel(wamid)), {
            tenantId: world.tenant.tenantId,
            messageId,
          }),
        () => fileEcho(world, messageKeys.cloud(wamid), wamid),
      ],
      check: async ({ world, messageId, wamid }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
        const outs = (await thread(world)).filter((m) => m.direction === 'out');
        expect(outs.map((m) => m.messageId)).toEqual([messageId]);
        expect(await replyOf(messageId)).toMatchObject({
          status: 'sent',
          providerMessageId: wamid,
        });
        // A late duplicate of the echo still files nothing.
        await fileEcho(world, messageKeys.cloud(wamid), wamid);
        expect((await thread(world)).filter((m) => m.direction === 'out')).toHaveLength(1);
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('an echo filed before the answer is adopted: the conversation counts one message', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world);
    const wamid = `wamid.${randomUUID()}`;
    await fileEcho(world, messageKeys.cloud(wamid), wamid);
    expect((await thread(world)).filter((m) => m.direction === 'out')).toHaveLength(2);
    await sendReply(senderDeps(world, fixedIdChannel(wamid)), {
      tenantId: world.tenant.tenantId,
      messageId,
    });
    const outs = (await thread(world)).filter((m) => m.direction === 'out');
    expect(outs.map((m) => m.messageId)).toEqual([messageId]);
    const conversation = await new DynamoDbConversationStore(
      ddb,
      tableName('inbound'),
    ).getConversation(world.conversationId);
    expect(conversation?.messageCount).toBe(2);
  });
});
