/**
 * LinkedIn and e-mail people are aliases that `PUT /v1/leads/{leadId}` links to a lead (issue 23
 * item 5, api.md "Unipile webhooks" → Identity): the conversations their messages made are merged
 * into the lead's one conversation, and their later messages land there too, also when the lead
 * is saved while the first message is being filed.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSqsClient } from '../../support/emulators.js';
import { raceTrials } from '../../support/race.js';
import {
  freshId,
  postUnipile,
  type UnipileTenant,
  unipilePayload,
  unipileTenant,
} from '../webhooks/unipile-support.js';
import {
  type HttpResult,
  leadCall,
  listedConversations,
  privateJobsQueue,
  sendCloud,
  type TestTenant,
  threadOf,
} from './inbound-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());

const LINKEDIN_ID = 'ACoAANoaPeretzProviderId1';
const asTenant = (t: UnipileTenant) => t as unknown as TestTenant;

async function linkedin(t: UnipileTenant, text: string) {
  const answer = await postUnipile(
    unipilePayload('linkedin-message-received', t.accountIds[0] as string, {
      message_id: freshId(),
      message: text,
    }),
    t.webhookToken,
  );
  expect(answer.json).toMatchObject({ stored: 1 });
}

async function mail(t: UnipileTenant, text: string) {
  const answer = await postUnipile(
    unipilePayload('mail-received', t.accountIds[0] as string, {
      email_id: freshId(),
      message_id: `<${freshId()}@mail.example.com>`,
      body_plain: text,
    }),
    t.webhookToken,
  );
  expect(answer.json).toMatchObject({ stored: 1 });
}

/** Exactly one listed conversation, the lead's, holding exactly `bodies`. */
async function expectLeadConversation(t: UnipileTenant, leadId: string, bodies: string[]) {
  const listed = await listedConversations(asTenant(t));
  expect(listed).toHaveLength(1);
  const [only] = listed;
  expect(only?.conversationKey).toBe(`lead:${t.tenantId}:${leadId}`);
  expect((await threadOf(asTenant(t), only?.conversationId as string)).sort()).toEqual(
    [...bodies].sort(),
  );
  return only?.conversationId as string;
}

describe('leads with e-mail addresses and LinkedIn ids', () => {
  it('PUT /v1/leads with linkedin and emails merges the LinkedIn, e-mail and phone conversations into one, and later messages land in it', async () => {
    const t = await unipileTenant();
    const phoneTenant = { ...asTenant(t) };
    await linkedin(t, 'li 1');
    await mail(t, 'mail 1');
    expect(await listedConversations(asTenant(t))).toHaveLength(2);

    const put = await leadCall(phoneTenant, 'noa', {
      name: 'Noa Peretz',
      // Any case: the address is the lower-cased one.
      emails: ['NOA.PERETZ@example.com'],
      linkedin: [LINKEDIN_ID],
    });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ emails: ['noa.peretz@example.com'] });
    const id = await expectLeadConversation(t, 'noa', ['li 1', 'mail 1']);

    await linkedin(t, 'li 2');
    await mail(t, 'mail 2');
    expect(await expectLeadConversation(t, 'noa', ['li 1', 'mail 1', 'li 2', 'mail 2'])).toBe(id);
  });

  it('a lead saved before any message receives the LinkedIn and e-mail messages that follow', async () => {
    const t = await unipileTenant();
    expect(
      (
        await leadCall(asTenant(t), 'noa', {
          emails: ['noa.peretz@example.com'],
          linkedin: [LINKEDIN_ID],
        })
      ).status,
    ).toBe(200);
    await linkedin(t, 'li 1');
    await mail(t, 'mail 1');
    await expectLeadConversation(t, 'noa', ['li 1', 'mail 1']);
  });

  it('a lead with a phone and a LinkedIn id holds the WhatsApp and the LinkedIn messages in one conversation', async () => {
    const { testPhoneNumberId, testTenant } = await import('../../support/test-tenant.js');
    const phoneNumberId = testPhoneNumberId();
    const created = await testTenant({
      whatsapp: { phoneNumberIds: [phoneNumberId] },
      unipile: { accountIds: [freshId()], dsn: '127.0.0.1:4010' },
    });
    const t: UnipileTenant = {
      tenantId: created.tenantId,
      apiKey: created.apiKey,
      webhookToken: created.webhookToken,
      accountIds: created.config.unipile?.accountIds ?? [],
    };
    const cloud = { ...asTenant(t), phoneNumberId };
    await sendCloud(cloud, '972501234567', 'wa 1');
    await linkedin(t, 'li 1');
    await leadCall(cloud, 'noa', { phones: ['+972501234567'], linkedin: [LINKEDIN_ID] });
    await expectLeadConversation(t, 'noa', ['wa 1', 'li 1']);
  });

  it('a lead PUT racing the first LinkedIn message and the first mail → one conversation (race)', async () => {
    await raceTrials({
      trials: 8,
      maxStaggerMs: 20,
      setup: () => unipileTenant(),
      contenders: (t) => [
        () =>
          leadCall(asTenant(t), 'noa', {
            emails: ['noa.peretz@example.com'],
            linkedin: [LINKEDIN_ID],
          }),
        () => linkedin(t, 'li 1'),
        () => mail(t, 'mail 1'),
      ],
      check: async (t, outcomes) => {
        for (const o of outcomes) expect(o.status).toBe('fulfilled');
        expect((outcomes[0] as PromiseFulfilledResult<HttpResult>).value.status).toBe(200);
        await expectLeadConversation(t, 'noa', ['li 1', 'mail 1']);
      },
    });
  });

  it('a lead needs a phone, an address or a LinkedIn id; a bad address is 400 and saves nothing', async () => {
    const t = await unipileTenant();
    expect((await leadCall(asTenant(t), 'noa', { name: 'Noa' })).status).toBe(400);
    const bad = await leadCall(asTenant(t), 'noa', { emails: ['not an address'] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json.error.details)).toContain('emails.0');
    expect(await listedConversations(asTenant(t))).toHaveLength(0);
  });
});
