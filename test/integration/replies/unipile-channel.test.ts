/**
 * The Unipile `ReplyChannel` against the Unipile simulator, whose webhooks reach the real
 * `POST /webhooks/unipile` handler on a local port and DynamoDB Local (issue 23 items 3-5):
 *
 * - the simulator's requests and answers are Unipile's: every body and answer is checked with the
 *   TypeBox schemas `unipile-node-sdk` itself validates with;
 * - a LinkedIn reply goes to the chat of the person's inbound message (its stored `chat_id`), is
 *   accepted with Unipile's `message_id`, and Unipile's own-user `message_received` echo is filed
 *   `out` under that id, in the person's conversation;
 * - an e-mail reply answers the inbound mail (`reply_to` = its `email_id`), carries the reply's id
 *   in `X-Onceflow-Message-Id`, is accepted with a `tracking_id`, and the `mail_sent` echo is filed
 *   under that `tracking_id` (`messageKeys.unipileSent`);
 * - the e-mail evidence read follows the cursor (bounded), parses the SDK's shape, and is not
 *   `absent` within the sync lag;
 * - a lost answer is `unknown` (never `rejected`: the send happened, and its echo is the evidence);
 *   refusals are `rejected` (429 retryable, an unknown chat permanent) or `unknown` (500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplySend } from '../../../functions/replies/channel.js';
import {
  CORRELATION_HEADER,
  createUnipileChannel,
  emailFields,
  FIND_SENT_MAX_PAGES,
  SENT_MAIL_SYNC_LAG_MS,
} from '../../../functions/replies/channels/unipile.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { pollUntil } from '../../support/poll.js';
import {
  emailListAnswer,
  emailSentAnswer,
  errorsOf,
  messageSentAnswer,
  messagingPayloadKeys,
  SEND_EMAIL_FIELDS,
  sendMessageBody,
  webhookCreateAnswer,
  webhookCreateBody,
} from '../../support/unipile-sdk.js';
import {
  freshId,
  simJsonAt,
  startUnipileStage,
  storedMessage,
  type UnipileTenant,
  unipileFixtureFile,
  unipileTenant,
} from '../webhooks/unipile-support.js';

let apiUrl = '';
let simUrl = '';
let stopStage: () => Promise<void> = async () => {};
let tenant: UnipileTenant;
let account = '';

const simJson = (path: string, init: RequestInit = {}) => simJsonAt(simUrl, path, init);

async function registerWebhook(source: 'messaging' | 'email') {
  const body = {
    request_url: `${apiUrl}/webhooks/unipile`,
    source,
    account_ids: [account],
    headers: [{ key: 'X-Webhook-Token', value: tenant.webhookToken }],
    ...(source === 'email' ? { events: ['mail_received', 'mail_sent'] } : {}),
  };
  expect(errorsOf(webhookCreateBody, body)).toEqual([]);
  const created = await simJson('/api/v1/webhooks', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sim-key' },
    body: JSON.stringify(body),
  });
  expect(created.status).toBe(201);
  expect(errorsOf(webhookCreateAnswer, created.json)).toEqual([]);
}

beforeAll(async () => {
  ({ apiUrl, simUrl, close: stopStage } = await startUnipileStage('onceflow-unipile-'));
  tenant = await unipileTenant(1, simUrl.replace('http://', ''));
  account = tenant.accountIds[0] as string;
  await registerWebhook('messaging');
  await registerWebhook('email');
});

afterAll(async () => {
  await stopStage();
});

const options = { baseUrl: () => simUrl, apiKey: async () => 'sim-key' };
const linkedinChannel = createUnipileChannel('linkedin', options);
const emailChannel = createUnipileChannel('email', options);

async function setFaults(faults: Record<string, number> | null) {
  await fetch(`${simUrl}/_sim/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ unipile: faults }),
  });
}

/** An inbound LinkedIn message posted through the simulator (as Unipile would) and filed. */
async function inboundLinkedin(): Promise<{ chatId: string; messageId: string }> {
  const payload = {
    ...unipileFixtureFile('linkedin-message-received').payload,
    account_id: account,
    chat_id: freshId(),
    message_id: freshId(),
  };
  for (const key of Object.keys(payload)) {
    if (key !== 'event' && key !== 'account_info') expect(messagingPayloadKeys).toContain(key);
  }
  const posted = await simJson('/_sim/unipile/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  expect(posted.json).toEqual({ delivered: 1 });
  await filed(messageKeys.unipile(payload.message_id));
  return { chatId: payload.chat_id, messageId: payload.message_id };
}

/** The message filed under `dedupeKey` (a claim not yet filed does not count). */
function filed(dedupeKey: string) {
  return pollUntil(async () => {
    const item = await storedMessage(tenant.tenantId, dedupeKey);
    return item?.conversationId ? item : undefined;
  });
}

function reply(overrides: Partial<ReplySend>): ReplySend {
  return {
    tenantId: tenant.tenantId,
    messageId: `r_${freshId()}`,
    channel: 'linkedin',
    to: '',
    from: account,
    body: 'Yes, come by at ten',
    ...overrides,
  };
}

describe('Unipile chat replies', () => {
  it('a reply to the chat of an inbound message is accepted with message_id, and the own-user echo is filed out under it in the same conversation', async () => {
    const inbound = await inboundLinkedin();
    const stored = await filed(messageKeys.unipile(inbound.messageId));
    expect(stored?.providerChatId).toBe(inbound.chatId);

    const result = await linkedinChannel.send(reply({ to: stored?.providerChatId as string }));
    expect(result.kind).toBe('accepted');
    const providerMessageId = (result as { providerMessageId: string }).providerMessageId;

    // What the simulator accepted is what the SDK would have sent.
    const journal = await simJson('/_sim/unipile/messages');
    const sent = journal.json.messages.find(
      (m: { messageId?: string }) => m.messageId === providerMessageId,
    );
    expect(errorsOf(sendMessageBody, sent.fields)).toEqual([]);
    expect(sent).toMatchObject({ chatId: inbound.chatId, text: 'Yes, come by at ten' });

    const echo = await filed(messageKeys.unipile(providerMessageId));
    expect(echo).toMatchObject({
      direction: 'out',
      channel: 'linkedin',
      providerMessageId,
      conversationId: stored?.conversationId,
    });
  });

  it('the answer has the shape the SDK validates (201 MessageSent with message_id)', async () => {
    const { chatId } = await inboundLinkedin();
    const form = new FormData();
    form.append('text', 'shape check');
    const res = await fetch(`${simUrl}/api/v1/chats/${chatId}/messages`, {
      method: 'POST',
      headers: { 'X-API-KEY': 'sim-key' },
      body: form,
    });
    expect(res.status).toBe(201);
    expect(errorsOf(messageSentAnswer, await res.json())).toEqual([]);
    const noKey = await fetch(`${simUrl}/api/v1/chats/${chatId}/messages`, {
      method: 'POST',
      body: form,
    });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ status: 401, type: 'errors/missing_credentials' });
  });

  it('a lost answer is unknown, not rejected: the message was sent and its echo is filed', async () => {
    const { chatId } = await inboundLinkedin();
    await setFaults({ lostResponseRate: 1 });
    try {
      const body = `lost answer ${freshId()}`;
      const result = await linkedinChannel.send(reply({ to: chatId, body }));
      expect(result.kind).toBe('unknown');
      const journal = await simJson('/_sim/unipile/messages');
      const sent = journal.json.messages.find((m: { text: string }) => m.text === body);
      expect(sent).toBeDefined();
      // The evidence: Unipile's own-user echo of that very message.
      await filed(messageKeys.unipile(sent.messageId));
    } finally {
      await setFaults(null);
    }
  });

  it('refusals: 429 is a retryable rejection, 500 an unknown outcome, an unknown chat a permanent rejection', async () => {
    const { chatId } = await inboundLinkedin();
    await setFaults({ errorRate: 1 });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 24 && seen.size < 2; i++) {
        const result = await linkedinChannel.send(reply({ to: chatId }));
        if (result.kind === 'rejected') {
          expect(result).toMatchObject({ retry: true, httpStatus: 429 });
          seen.add('429');
        } else {
          expect(result).toMatchObject({
            kind: 'unknown',
            reason: 'HTTP 500 errors/unexpected_error',
          });
          seen.add('500');
        }
      }
      expect(seen).toEqual(new Set(['429', '500']));
    } finally {
      await setFaults(null);
    }
    const missing = await linkedinChannel.send(reply({ to: freshId() }));
    expect(missing).toMatchObject({ kind: 'rejected', retry: false, httpStatus: 404 });
    const climbing = await linkedinChannel.send(reply({ to: '../emails' }));
    expect(climbing).toMatchObject({ kind: 'rejected', retry: false, httpStatus: 0 });
  });
});

describe('Unipile e-mail replies', () => {
  it('a reply to an inbound mail is sent as the SDK sends it, accepted with tracking_id, and the mail_sent echo is filed out under it', async () => {
    const inboundMail = {
      ...unipileFixtureFile('mail-received').payload,
      account_id: account,
      email_id: freshId(),
      message_id: `<${freshId()}@mail.example.com>`,
    };
    await simJson('/_sim/unipile/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(inboundMail),
    });
    const rfc = inboundMail.message_id.slice(1, -1);
    const inbound = await filed(messageKeys.unipileMail(rfc));

    const send = reply({
      channel: 'email',
      to: 'noa.peretz@example.com',
      subject: `Re: ${inbound.subject}`,
      replyTo: inbound.providerEmailId as string,
    });
    // Every field sent is one of the SDK's `SendEmailInput` fields.
    for (const field of Object.keys(emailFields(send))) expect(SEND_EMAIL_FIELDS).toContain(field);

    const result = await emailChannel.send(send);
    expect(result.kind).toBe('accepted');
    const trackingId = (result as { providerMessageId: string }).providerMessageId;
    const journal = await simJson('/_sim/unipile/messages');
    const sent = journal.json.messages.find(
      (m: { trackingId?: string }) => m.trackingId === trackingId,
    );
    expect(sent).toMatchObject({
      kind: 'email',
      accountId: account,
      replyTo: inboundMail.email_id,
      to: [{ identifier: 'noa.peretz@example.com' }],
      customHeaders: [{ name: CORRELATION_HEADER, value: send.messageId }],
    });
    expect(errorsOf(emailSentAnswer, { object: 'EmailSent', tracking_id: trackingId })).toEqual([]);

    // A mail onceflow sent (origin "unipile") is filed under its tracking_id: the key the reply's
    // record write claims, so the echo only moves the reply.
    const echo = await filed(messageKeys.unipileSent(trackingId));
    expect(echo).toMatchObject({
      direction: 'out',
      channel: 'email',
      providerMessageId: trackingId,
      conversationId: inbound.conversationId,
    });
  });

  it('the e-mail answer has the shape the SDK validates (201 EmailSent with tracking_id)', async () => {
    const form = new FormData();
    form.append('account_id', account);
    form.append('to', JSON.stringify([{ identifier: 'someone@example.com' }]));
    form.append('body', 'shape check');
    const res = await fetch(`${simUrl}/api/v1/emails`, {
      method: 'POST',
      headers: { 'X-API-KEY': 'sim-key' },
      body: form,
    });
    expect(res.status).toBe(201);
    expect(errorsOf(emailSentAnswer, await res.json())).toEqual([]);
  });

  it('a lost e-mail answer is unknown, and findSent reads the sent mail by X-Onceflow-Message-Id (found), another reply is absent', async () => {
    await setFaults({ lostResponseRate: 1 });
    const send = reply({
      channel: 'email',
      to: `lost-${freshId().toLowerCase()}@example.com`,
      subject: 'Lost answer',
    });
    try {
      expect((await emailChannel.send(send)).kind).toBe('unknown');
    } finally {
      await setFaults(null);
    }
    const journal = await simJson('/_sim/unipile/messages');
    const sent = journal.json.messages.find(
      (m: { to?: Array<{ identifier: string }> }) => m.to?.[0]?.identifier === send.to,
    );
    expect(await emailChannel.findSent?.(send)).toEqual({
      kind: 'found',
      providerMessageId: sent.trackingId,
    });
    // Another reply's id is nowhere in the Sent listing: absent, once the sync lag is over.
    const longAgo = new Date(Date.now() - SENT_MAIL_SYNC_LAG_MS).toISOString();
    expect(
      await emailChannel.findSent?.({
        ...send,
        messageId: `r_${freshId()}`,
        sendingSince: longAgo,
      }),
    ).toEqual({ kind: 'absent' });
    // The listing is the shape the SDK validates.
    const listed = await simJson(
      `/api/v1/emails?account_id=${account}&role=sent&any_email=${encodeURIComponent(send.to)}&include_headers=true`,
      { headers: { 'X-API-KEY': 'sim-key' } },
    );
    expect(errorsOf(emailListAnswer, listed.json)).toEqual([]);
    expect(linkedinChannel.findSent).toBeUndefined();
  });
});

describe('Unipile e-mail evidence (findSent): paginated, parsed, never absent too early', () => {
  /** `count` mails sent to one fresh address through the channel; the first carries `send`'s id. */
  async function sentMails(count: number) {
    const to = `paged-${freshId().toLowerCase()}@example.com`;
    const first = reply({ channel: 'email', to, subject: 'Paged', body: 'the one to find' });
    expect((await emailChannel.send(first)).kind).toBe('accepted');
    for (let i = 1; i < count; i++) {
      const other = reply({ channel: 'email', to, subject: `Later ${i}`, body: `later ${i}` });
      expect((await emailChannel.send(other)).kind).toBe('accepted');
    }
    return first;
  }
  const longAgo = () => new Date(Date.now() - SENT_MAIL_SYNC_LAG_MS - 1000).toISOString();

  it('follows the cursor: the reply’s mail on the last page (newest first, 3 a page) is found', async () => {
    const first = await sentMails(8);
    const paged = createUnipileChannel('email', { ...options, findSentPageSize: 3 });
    const found = await paged.findSent?.({ ...first, sendingSince: longAgo() });
    expect(found).toMatchObject({ kind: 'found' });
    // Every page the simulator answered had the SDK's shape, and the cursor was honoured.
    const pageOne = await simJson(
      `/api/v1/emails?account_id=${account}&role=sent&any_email=${encodeURIComponent(first.to)}&include_headers=true&limit=3`,
      { headers: { 'X-API-KEY': 'sim-key' } },
    );
    expect(errorsOf(emailListAnswer, pageOne.json)).toEqual([]);
    expect(pageOne.json.items).toHaveLength(3);
    expect(typeof pageOne.json.cursor).toBe('string');
  });

  it('a listing with no such mail is not absent within the sync lag, absent after it', async () => {
    const to = `none-${freshId().toLowerCase()}@example.com`;
    const never = reply({ channel: 'email', to });
    const now = Date.now();
    const clocked = createUnipileChannel('email', { ...options, now: () => now });
    const justSent = new Date(now - 1000).toISOString();
    expect(await clocked.findSent?.({ ...never, sendingSince: justSent })).toEqual({
      kind: 'unavailable',
    });
    const lagOver = new Date(now - SENT_MAIL_SYNC_LAG_MS).toISOString();
    expect(await clocked.findSent?.({ ...never, sendingSince: lagOver })).toEqual({
      kind: 'absent',
    });
  });

  it('past the page bound without the mail: unavailable, never absent', async () => {
    const first = await sentMails(FIND_SENT_MAX_PAGES + 2);
    const onePerPage = createUnipileChannel('email', { ...options, findSentPageSize: 1 });
    // The reply's own mail is the oldest: beyond 10 pages of one.
    expect(await onePerPage.findSent?.({ ...first, sendingSince: longAgo() })).toEqual({
      kind: 'unavailable',
    });
    expect(
      await onePerPage.findSent?.({
        ...first,
        messageId: `r_${freshId()}`,
        sendingSince: longAgo(),
      }),
    ).toEqual({ kind: 'unavailable' });
  });

  it('an answer not in the SDK’s MailList shape is no evidence (unavailable), never absent', async () => {
    const offSpec: typeof fetch = async () =>
      new Response(JSON.stringify({ object: 'EmailList', items: null, cursor: null }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    const channel = createUnipileChannel('email', { ...options, fetch: offSpec });
    const send = reply({ channel: 'email', to: 'x@example.com', sendingSince: longAgo() });
    expect(await channel.findSent?.(send)).toEqual({ kind: 'unavailable' });
  });
});
