/**
 * `POST /webhooks/unipile` through its Lambda handler against DynamoDB Local (issue 23 item 5):
 * messaging events stored once by `(tenant, message_id)`, mail once by its RFC `Message-ID` (the
 * same mail in two mailboxes of one tenant is one message), the account's own messages filed
 * `out` in the person's conversation, other events acknowledged and ignored, the token checked
 * (401) and each account routed to its own tenant only.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { testSqsClient } from '../../support/emulators.js';
import { raceTrials } from '../../support/race.js';
import {
  type HttpResult,
  invoke,
  listedConversations,
  privateJobsQueue,
  sendCloud,
  type TestTenant,
  threadOf,
} from '../conversations/inbound-support.js';
import {
  freshId,
  postUnipile,
  storedMessage,
  type UnipileTenant,
  unipileAccountId,
  unipilePayload,
  unipileTenant,
} from './unipile-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());

const asTenant = (t: UnipileTenant) => t as unknown as TestTenant;

async function oneConversation(t: UnipileTenant) {
  const listed = await listedConversations(asTenant(t));
  expect(listed).toHaveLength(1);
  return listed[0] as { conversationId: string; messageCount: number };
}

describe('Unipile messaging events', () => {
  it('a LinkedIn message_received is stored once, however often Unipile delivers it', async () => {
    const t = await unipileTenant();
    const payload = unipilePayload('linkedin-message-received', t.accountIds[0] as string, {
      message_id: freshId(),
    });
    const first = await postUnipile(payload, t.webhookToken);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ received: 1, stored: 1, deduped: 0 });
    for (let i = 0; i < 3; i++) {
      const again = await postUnipile(payload, t.webhookToken);
      expect(again.json).toMatchObject({ received: 1, stored: 0, deduped: 1 });
    }
    const conversation = await oneConversation(t);
    expect(conversation.messageCount).toBe(1);
    const stored = await storedMessage(t.tenantId, messageKeys.unipile(String(payload.message_id)));
    expect(stored).toMatchObject({
      channel: 'linkedin',
      direction: 'in',
      providerMessageId: payload.message_id,
      providerAccountId: t.accountIds[0],
      // The chat a reply is sent to.
      providerChatId: payload.chat_id,
      aliases: ['li:ACoAANoaPeretzProviderId1'],
    });
  });

  it('the same event fired together is stored once (race)', async () => {
    await raceTrials({
      trials: 8,
      setup: async () => {
        const t = await unipileTenant();
        const payload = unipilePayload('linkedin-message-received', t.accountIds[0] as string, {
          message_id: freshId(),
        });
        return { t, payload };
      },
      contenders: ({ t, payload }) =>
        Array.from({ length: 6 }, () => () => postUnipile(payload, t.webhookToken)),
      check: async ({ t }, outcomes) => {
        const answers = outcomes.map(
          (o) => (o as PromiseFulfilledResult<HttpResult>).value?.json ?? {},
        );
        for (const o of outcomes) expect(o.status).toBe('fulfilled');
        expect(answers.filter((a) => a.stored === 1)).toHaveLength(1);
        expect(answers.filter((a) => a.deduped === 1)).toHaveLength(5);
        expect((await oneConversation(t)).messageCount).toBe(1);
      },
    });
  });

  it("the account's own message (sender = account_info.user_id) is filed out, in the person's conversation", async () => {
    const t = await unipileTenant();
    const account = t.accountIds[0] as string;
    await postUnipile(
      unipilePayload('linkedin-message-received', account, { message_id: freshId() }),
      t.webhookToken,
    );
    const own = unipilePayload('linkedin-own-message', account, { message_id: freshId() });
    const answer = await postUnipile(own, t.webhookToken);
    expect(answer.json).toMatchObject({ stored: 1 });
    const conversation = await oneConversation(t);
    expect(conversation.messageCount).toBe(2);
    expect(
      await storedMessage(t.tenantId, messageKeys.unipile(String(own.message_id))),
    ).toMatchObject({ direction: 'out', channel: 'linkedin', providerMessageId: own.message_id });
    // No profile name is taken from the business's own message.
    const stored = await storedMessage(t.tenantId, messageKeys.unipile(String(own.message_id)));
    expect(stored?.profileName).toBeUndefined();
  });

  it('an own message whose counterpart is not listed is kept under its chat, never dropped', async () => {
    const t = await unipileTenant();
    const own = unipilePayload('linkedin-own-message', t.accountIds[0] as string, {
      message_id: freshId(),
      attendees: [],
    });
    expect((await postUnipile(own, t.webhookToken)).json).toMatchObject({ stored: 1, invalid: 0 });
    expect(
      (await storedMessage(t.tenantId, messageKeys.unipile(String(own.message_id))))?.aliases,
    ).toEqual([`uchat:${t.accountIds[0]}:${own.chat_id}`]);
  });

  it('a WhatsApp account through Unipile files its messages whatsapp_web into the phone’s one conversation', async () => {
    const t = await unipileTenant();
    const cloudTenant = asTenant(t);
    const payload = unipilePayload('whatsapp-message-received', t.accountIds[0] as string, {
      message_id: freshId(),
    });
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ stored: 1 });
    const stored = await storedMessage(t.tenantId, messageKeys.unipile(String(payload.message_id)));
    expect(stored).toMatchObject({ channel: 'whatsapp_web', e164: '+972501234567' });
    // The conversation is the phone's: its key is `phone:`.
    const [conversation] = await listedConversations(cloudTenant);
    expect(conversation?.conversationKey).toBe(`phone:${t.tenantId}:+972501234567`);
  });

  it('a Telegram message is filed under the Telegram id', async () => {
    const t = await unipileTenant();
    const payload = unipilePayload('telegram-message-received', t.accountIds[0] as string, {
      message_id: freshId(),
    });
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ stored: 1 });
    expect(
      await storedMessage(t.tenantId, messageKeys.unipile(String(payload.message_id))),
    ).toMatchObject({ channel: 'telegram', aliases: ['tg:7081234567'] });
  });

  it('reactions, reads and account status events are acknowledged and ignored', async () => {
    const t = await unipileTenant();
    const account = t.accountIds[0] as string;
    for (const payload of [
      unipilePayload('message-reaction', account),
      { ...unipilePayload('message-reaction', account), event: 'message_read' },
      { ...unipilePayload('message-reaction', account), event: 'message_delivered' },
      { AccountStatus: { account_id: account, account_type: 'LINKEDIN', message: 'OK' } },
    ]) {
      const answer = await postUnipile(payload, t.webhookToken);
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ ignored: true });
    }
    expect(await listedConversations(asTenant(t))).toHaveLength(0);
  });
});

describe('Unipile mail events', () => {
  const mail = (account: string, rfc: string, emailId = freshId()) =>
    unipilePayload('mail-received', account, { email_id: emailId, message_id: `<${rfc}>` });

  it('mail_received is stored once by its Message-ID; the person is the lower-cased address', async () => {
    const t = await unipileTenant();
    const rfc = `${freshId()}@mail.example.com`;
    const payload = mail(t.accountIds[0] as string, rfc);
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ stored: 1 });
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ deduped: 1 });
    expect(await storedMessage(t.tenantId, messageKeys.unipileMail(rfc))).toMatchObject({
      channel: 'email',
      direction: 'in',
      aliases: ['email:noa.peretz@example.com'],
      subject: 'The apartment on Herzl St',
      body: 'Hi, is the apartment on Herzl St still available?',
      providerEmailId: payload.email_id,
    });
  });

  it('the same mail received in two mailboxes of one tenant, delivered together, is one message (race)', async () => {
    await raceTrials({
      trials: 8,
      setup: async () => {
        const t = await unipileTenant(2);
        const rfc = `${freshId()}@mail.example.com`;
        // Each mailbox has its own email_id for the same mail.
        return {
          t,
          a: mail(t.accountIds[0] as string, rfc),
          b: mail(t.accountIds[1] as string, rfc),
        };
      },
      contenders: ({ t, a, b }) => [
        () => postUnipile(a, t.webhookToken),
        () => postUnipile(b, t.webhookToken),
        () => postUnipile(a, t.webhookToken),
        () => postUnipile(b, t.webhookToken),
      ],
      check: async ({ t }, outcomes) => {
        const answers = outcomes.map((o) => (o as PromiseFulfilledResult<HttpResult>).value.json);
        expect(answers.filter((a) => a.stored === 1)).toHaveLength(1);
        expect(answers.filter((a) => a.deduped === 1)).toHaveLength(3);
        expect((await oneConversation(t)).messageCount).toBe(1);
      },
    });
  });

  it('a mail without a Message-ID is stored once by its email_id', async () => {
    const t = await unipileTenant();
    const emailId = freshId();
    const payload = {
      ...mail(t.accountIds[0] as string, 'x'),
      email_id: emailId,
      message_id: null,
    };
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ stored: 1 });
    expect((await postUnipile(payload, t.webhookToken)).json).toMatchObject({ deduped: 1 });
    expect(await storedMessage(t.tenantId, messageKeys.unipileMailId(emailId))).toBeDefined();
  });

  it('a long HTML mail is stored (cut), never refused as invalid', async () => {
    const t = await unipileTenant();
    const rfc = `${freshId()}@mail.example.com`;
    const big = `<p>${'x'.repeat(200_000)}</p>`;
    const payload = { ...mail(t.accountIds[0] as string, rfc), body: big, body_plain: '' };
    const answer = await postUnipile(payload, t.webhookToken);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ stored: 1 });
  });
});

describe('Unipile webhook authentication and tenancy', () => {
  it('no token, a wrong token, or another tenant’s token is 401 and stores nothing', async () => {
    const t = await unipileTenant();
    const other = await unipileTenant();
    const payload = unipilePayload('linkedin-message-received', t.accountIds[0] as string, {
      message_id: freshId(),
    });
    expect((await postUnipile(payload, undefined)).status).toBe(401);
    expect((await postUnipile(payload, `${t.webhookToken}x`)).status).toBe(401);
    expect((await postUnipile(payload, other.webhookToken)).status).toBe(401);
    expect(
      (
        await postUnipile(
          { account_id: unipileAccountId(), event: 'message_received' },
          t.webhookToken,
        )
      ).status,
    ).toBe(401);
    expect(await listedConversations(asTenant(t))).toHaveLength(0);
    // The token may also come as `?token=`.
    expect((await postUnipile(payload, t.webhookToken, 'query')).json).toMatchObject({ stored: 1 });
  });

  it('the same message id in two tenants is two messages, each in its own tenant', async () => {
    const a = await unipileTenant();
    const b = await unipileTenant();
    const messageId = freshId();
    await postUnipile(
      unipilePayload('linkedin-message-received', a.accountIds[0] as string, {
        message_id: messageId,
      }),
      a.webhookToken,
    );
    const second = await postUnipile(
      unipilePayload('linkedin-message-received', b.accountIds[0] as string, {
        message_id: messageId,
      }),
      b.webhookToken,
    );
    expect(second.json).toMatchObject({ stored: 1, deduped: 0 });
    expect(await listedConversations(asTenant(a))).toHaveLength(1);
    expect(await listedConversations(asTenant(b))).toHaveLength(1);
  });

  it('a Unipile account id owned by another tenant is 409', async () => {
    const owner = await unipileTenant();
    const { handler } = await import('../../../functions/tenants/handlers/put-tenant.js');
    const admin = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';
    const tenantId = `t-${freshId().slice(0, 8)}`;
    const put = (accountIds: string[]) =>
      invoke(handler, {
        method: 'PUT',
        routeKey: 'PUT /v1/tenants/{tenantId}',
        path: `/v1/tenants/${tenantId}`,
        pathParameters: { tenantId },
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'Other',
          defaultCountry: 'IL',
          unipile: { accountIds, dsn: 'api8.unipile.com:13851' },
        }),
      });
    const taken = await put([owner.accountIds[0] as string]);
    expect(taken.status).toBe(409);
    expect(JSON.stringify(taken.json)).toContain('unipile.accountIds');
    expect((await put([unipileAccountId()])).status).toBe(200);
  });

  it('a payload without an account is 400 in the contract shape, never a 5xx', async () => {
    const t = await unipileTenant();
    const answer = await postUnipile({ event: 'message_received' }, t.webhookToken);
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
  });
});

describe('Unipile and WhatsApp of one person', () => {
  it('a Unipile WhatsApp message and a Cloud API message of the same phone share one conversation', async () => {
    const { testPhoneNumberId, testTenant } = await import('../../support/test-tenant.js');
    const phoneNumberId = testPhoneNumberId();
    // One tenant owning a Cloud API number and a Unipile WhatsApp account.
    const both = await testTenant({
      whatsapp: { phoneNumberIds: [phoneNumberId] },
      unipile: { accountIds: [unipileAccountId()], dsn: '127.0.0.1:4010' },
    });
    const tt = { ...both, phoneNumberId } as unknown as TestTenant;
    await sendCloud(tt, '972501234567', 'from cloud');
    const account = both.config.unipile?.accountIds[0] as string;
    await postUnipile(
      unipilePayload('whatsapp-message-received', account, { message_id: freshId() }),
      both.webhookToken,
    );
    const listed = await listedConversations(tt);
    expect(listed).toHaveLength(1);
    expect((await threadOf(tt, listed[0]?.conversationId as string)).sort()).toEqual(
      ['Hi from WhatsApp via Unipile', 'from cloud'].sort(),
    );
  });
});
