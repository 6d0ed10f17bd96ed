/**
 * A LinkedIn reply through Unipile end to end-ish (issue 23): the real handlers (`POST
 * /webhooks/unipile` behind a local port, `PUT /v1/tenants/{id}/providers/unipile`, `POST
 * /v1/conversations/{id}/messages`, `GET /v1/conversations/{id}/messages`), the sender with the
 * deployed channel wiring (`replyChannels()`: the tenant's sealed key and DSN looked up per send),
 * the Unipile simulator and DynamoDB Local:
 *
 * - an inbound LinkedIn message lands in the person's conversation; the agent's reply goes to that
 *   chat from that account with the tenant's own key, the simulator accepts one send, Unipile's
 *   own-user echo comes back, and the thread shows one outbound message whose status only moves
 *   forward (`message_read` → read; a late `message_delivered` changes nothing);
 * - the echo raced against the send's record write (echo first, answer first, together): one
 *   outbound message, status sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { createTokenBucket } from '../../../functions/kernel/token-bucket.js';
import type { ReplyChannel } from '../../../functions/replies/channel.js';
import {
  echoKeyOf,
  replyChannels,
  replyDeps,
  tenantChannels,
} from '../../../functions/replies/deps.js';
import { replyIdFor } from '../../../functions/replies/items.js';
import { createReply } from '../../../functions/replies/reply-store.js';
import { sendReply } from '../../../functions/replies/sender.js';
import { tenantStore } from '../../../functions/tenants/index.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { pollUntil } from '../../support/poll.js';
import { raceTrials } from '../../support/race.js';
import { apiCall, invoke, tenantConversations } from '../conversations/inbound-support.js';
import {
  freshId,
  postUnipile,
  simJsonAt,
  startUnipileStage,
  storedMessage,
  type UnipileTenant,
  unipileFixtureFile,
  unipilePayload,
  unipileTenant,
} from '../webhooks/unipile-support.js';
import { replyOf } from './replies-support.js';

const ADMIN = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';
const TENANT_KEY = 'unipile-tenant-key-0001';

let apiUrl = '';
let simUrl = '';
let stopStage: () => Promise<void> = async () => {};
const savedBase = process.env.UNIPILE_API_BASE_URL;

const simJson = (path: string, init: RequestInit = {}) => simJsonAt(simUrl, path, init);

beforeAll(async () => {
  ({ apiUrl, simUrl, close: stopStage } = await startUnipileStage('onceflow-unipile-replies-'));
  // The operator's override of every tenant's DSN (here: the simulator), as the local runtime has.
  process.env.UNIPILE_API_BASE_URL = simUrl;
});

afterAll(async () => {
  if (savedBase === undefined) delete process.env.UNIPILE_API_BASE_URL;
  else process.env.UNIPILE_API_BASE_URL = savedBase;
  await stopStage();
});

/** A tenant with one LinkedIn account, its webhook at the simulator and its key set by the admin. */
async function linkedinTenant(): Promise<UnipileTenant & { account: string }> {
  const tenant = await unipileTenant(1, 'api8.unipile.com:13851', 'LINKEDIN');
  const account = tenant.accountIds[0] as string;
  const created = await simJson('/api/v1/webhooks', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TENANT_KEY },
    body: JSON.stringify({
      request_url: `${apiUrl}/webhooks/unipile`,
      source: 'messaging',
      account_ids: [account],
      headers: [{ key: 'X-Webhook-Token', value: tenant.webhookToken }],
    }),
  });
  expect(created.status).toBe(201);
  const { handler } = await import(
    '../../../functions/tenants/handlers/put-provider-credentials.js'
  );
  const set = await invoke(handler, {
    method: 'PUT',
    routeKey: 'PUT /v1/tenants/{tenantId}/providers/{provider}',
    path: `/v1/tenants/${tenant.tenantId}/providers/unipile`,
    pathParameters: { tenantId: tenant.tenantId, provider: 'unipile' },
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: TENANT_KEY }),
  });
  expect(set.status).toBe(204);
  expect(set.text).not.toContain(TENANT_KEY);
  return { ...tenant, account };
}

/** A LinkedIn message from the person, delivered by the simulator as Unipile would, and filed. */
async function inboundLinkedin(account: string, tenantId: string) {
  const payload = {
    ...unipileFixtureFile('linkedin-message-received').payload,
    account_id: account,
    chat_id: freshId(),
    message_id: freshId(),
  };
  const posted = await simJson('/_sim/unipile/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  expect(posted.json).toEqual({ delivered: 1 });
  const filed = await pollUntil(async () => {
    const item = await storedMessage(tenantId, messageKeys.unipile(payload.message_id));
    return item?.conversationId ? item : undefined;
  });
  return { chatId: payload.chat_id, conversationId: filed?.conversationId as string };
}

async function thread(apiKey: string, conversationId: string) {
  const { handler } = await import('../../../functions/conversations/handlers/list-messages.js');
  const listed = await invoke(
    handler,
    apiCall(apiKey, {
      method: 'GET',
      routeKey: 'GET /v1/conversations/{conversationId}/messages',
      path: `/v1/conversations/${conversationId}/messages`,
      pathParameters: { conversationId },
    }),
  );
  expect(listed.status).toBe(200);
  return listed.json.messages as Array<{
    messageId: string;
    direction: string;
    channel: string;
    status?: string;
    providerMessageId?: string;
  }>;
}

function senderDeps(channels: Readonly<Partial<Record<string, ReplyChannel>>>) {
  return {
    ddb,
    clock: systemClock,
    table: tableName('inbound'),
    channels,
    tokens: createTokenBucket({ ddb, table: tableName('campaigns') }),
    rateOf: async () => ({ bucket: `linkedin:${freshId()}`, perSecond: 1000 }),
    echoKeyOf,
    owner: `test-${freshId()}`,
    leaseSeconds: 60,
    reconcileWindowSeconds: 600,
    sleep: async () => {},
  };
}

describe('a LinkedIn reply through Unipile', () => {
  it('inbound lands in the conversation; the reply is sent once to its chat with the tenant’s key; the echo only moves it; read moves it forward, never back', async () => {
    const tenant = await linkedinTenant();
    const inbound = await inboundLinkedin(tenant.account, tenant.tenantId);

    // The agent answers through the API (channel: the person's latest inbound, LinkedIn).
    const { handler } = await import(
      '../../../functions/replies/handlers/post-conversation-message.js'
    );
    const posted = await invoke(
      handler,
      apiCall(tenant.apiKey, {
        method: 'POST',
        routeKey: 'POST /v1/conversations/{conversationId}/messages',
        path: `/v1/conversations/${inbound.conversationId}/messages`,
        pathParameters: { conversationId: inbound.conversationId },
        headers: { 'idempotency-key': `agent-${freshId()}` },
        body: { body: 'Yes, it is still open. Shall we talk tomorrow?' },
      }),
    );
    expect(posted.status).toBe(202);
    const messageId = posted.json.messageId as string;
    expect(await replyOf(messageId)).toMatchObject({
      channel: 'linkedin',
      to: inbound.chatId,
      from: tenant.account,
      status: 'queued',
    });

    // The sender, with the deployed wiring of the channels (key and DSN looked up per send).
    const outcome = await sendReply(senderDeps(replyChannels()), {
      tenantId: tenant.tenantId,
      messageId,
    });
    expect(outcome).toBe('sent');
    const journal = await simJson('/_sim/unipile/messages');
    const sends = journal.json.messages.filter(
      (m: { chatId?: string }) => m.chatId === inbound.chatId,
    );
    expect(sends).toHaveLength(1);
    const providerMessageId = sends[0].messageId as string;
    expect(await replyOf(messageId)).toMatchObject({ status: 'sent', providerMessageId });

    // Unipile's own-user echo of that message comes back through the webhook: it only moves the
    // reply (its item is the reply's echo alias), so the thread still shows one outbound message.
    await pollUntil(async () => {
      const echo = await storedMessage(tenant.tenantId, messageKeys.unipile(providerMessageId));
      return echo?.replyOf === messageId ? echo : undefined;
    });
    const outs = (await thread(tenant.apiKey, inbound.conversationId)).filter(
      (m) => m.direction === 'out',
    );
    expect(outs).toEqual([
      expect.objectContaining({
        messageId,
        channel: 'linkedin',
        status: 'sent',
        providerMessageId,
      }),
    ]);

    // The person reads it: `message_read` about that message moves the reply forward.
    const read = await postUnipile(
      unipilePayload('linkedin-message-received', tenant.account, {
        event: 'message_read',
        chat_id: inbound.chatId,
        message_id: providerMessageId,
      }),
      tenant.webhookToken,
    );
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ stored: 1 });
    // A late delivery receipt changes nothing: never back.
    const late = await postUnipile(
      unipilePayload('linkedin-message-received', tenant.account, {
        event: 'message_delivered',
        chat_id: inbound.chatId,
        message_id: providerMessageId,
      }),
      tenant.webhookToken,
    );
    expect(late.json).toMatchObject({ deduped: 1 });
    const after = (await thread(tenant.apiKey, inbound.conversationId)).filter(
      (m) => m.direction === 'out',
    );
    expect(after).toEqual([expect.objectContaining({ messageId, status: 'read' })]);
    // A read of the person's own message is not a reply's: acknowledged, ignored.
    const other = await postUnipile(
      unipilePayload('linkedin-message-received', tenant.account, {
        event: 'message_read',
        message_id: freshId(),
      }),
      tenant.webhookToken,
    );
    expect(other.json).toEqual({ ignored: true });
  });

  it('a tenant without a Unipile key: the reply fails as not configured, nothing is sent', async () => {
    const tenant = await unipileTenant(1, 'api8.unipile.com:13851', 'LINKEDIN');
    const account = tenant.accountIds[0] as string;
    const inbound = await postUnipile(
      unipilePayload('linkedin-message-received', account, {
        chat_id: freshId(),
        message_id: freshId(),
      }),
      tenant.webhookToken,
    );
    expect(inbound.json).toMatchObject({ stored: 1 });
    const conversation = await tenantConversation(tenant.tenantId);
    const messageId = replyIdFor(tenant.tenantId, `k-${freshId()}`);
    await createReply(replyDeps(), {
      tenantId: tenant.tenantId,
      conversationId: conversation,
      messageId,
      request: { body: 'hello' },
      channels: await channelsOf(tenant.tenantId),
    });
    const before = (await simJson('/_sim/unipile/messages')).json.messages.length;
    expect(
      await sendReply(senderDeps(replyChannels()), { tenantId: tenant.tenantId, messageId }),
    ).toBe('failed');
    expect(await replyOf(messageId)).toMatchObject({
      status: 'failed',
      lastError: expect.stringContaining('unipile_not_configured'),
    });
    expect((await simJson('/_sim/unipile/messages')).json.messages.length).toBe(before);
  });
});

/** The conversation of the tenant's one inbound LinkedIn message. */
async function tenantConversation(tenantId: string): Promise<string> {
  const [first] = await tenantConversations(tenantId);
  return String(first?.conversationId);
}

/** The channels the tenant's configuration gives (`unipile.accountTypes`). */
async function channelsOf(tenantId: string) {
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new Error(`no tenant ${tenantId}`);
  return tenantChannels(tenant);
}

/** A Unipile channel whose provider answers a fixed `message_id` (its echo is posted by the test). */
function fixedIdLinkedin(providerMessageId: string): ReplyChannel {
  return { name: 'linkedin', send: async () => ({ kind: 'accepted', providerMessageId }) };
}

describe('Unipile’s own-user echo of a reply never doubles it', () => {
  it('echo and the send’s record write, fired together in every order: one outbound message, status sent', async () => {
    const report = await raceTrials({
      trials: 10,
      maxStaggerMs: 15,
      setup: async () => {
        const tenant = await unipileTenant(1, 'api8.unipile.com:13851', 'LINKEDIN');
        const account = tenant.accountIds[0] as string;
        const chatId = freshId();
        await postUnipile(
          unipilePayload('linkedin-message-received', account, {
            chat_id: chatId,
            message_id: freshId(),
          }),
          tenant.webhookToken,
        );
        const conversationId = await tenantConversation(tenant.tenantId);
        const messageId = replyIdFor(tenant.tenantId, `k-${freshId()}`);
        await createReply(replyDeps(), {
          tenantId: tenant.tenantId,
          conversationId,
          messageId,
          request: { body: 'On my way' },
          channels: await channelsOf(tenant.tenantId),
        });
        return { tenant, account, chatId, conversationId, messageId, pmid: freshId() };
      },
      contenders: ({ tenant, account, chatId, messageId, pmid }) => [
        () =>
          sendReply(senderDeps({ linkedin: fixedIdLinkedin(pmid) }), {
            tenantId: tenant.tenantId,
            messageId,
          }),
        () =>
          postUnipile(
            unipilePayload('linkedin-own-message', account, {
              chat_id: chatId,
              message_id: pmid,
              message: 'On my way',
            }),
            tenant.webhookToken,
          ),
      ],
      check: async ({ tenant, account, chatId, conversationId, messageId, pmid }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
        const outs = (await thread(tenant.apiKey, conversationId)).filter(
          (m) => m.direction === 'out',
        );
        expect(outs.map((m) => m.messageId)).toEqual([messageId]);
        expect(await replyOf(messageId)).toMatchObject({ status: 'sent', providerMessageId: pmid });
        // The echo's item is the reply's alias, and no conversation of the tenant lists it.
        const echo = await storedMessage(tenant.tenantId, messageKeys.unipile(pmid));
        expect(echo?.replyOf).toBe(messageId);
        expect(await tenantConversations(tenant.tenantId)).toHaveLength(1);
        // A redelivery of the echo still files nothing.
        await postUnipile(
          unipilePayload('linkedin-own-message', account, { chat_id: chatId, message_id: pmid }),
          tenant.webhookToken,
        );
        expect(
          (await thread(tenant.apiKey, conversationId)).filter((m) => m.direction === 'out'),
        ).toHaveLength(1);
      },
    });
    expect(report.failures).toEqual([]);
  });
});
