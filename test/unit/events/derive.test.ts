/**
 * One event per effect: the transitions that are events give exactly one, with an id from the
 * effect and its transition; every other change of the same items gives none. Message items are
 * built by the conversations context's own builders (`claimItem`, `filedMessageItem`, jobs from
 * `newJobsAttributes`); the stream's view of an item is what those builders store.
 */
import { describe, expect, it } from 'vitest';
import {
  claimItem,
  keys as conversationKeys,
  type FiledMessage,
  filedMessageItem,
} from '../../../functions/conversations/items.js';
import { type ChangeRecord, deriveEvents } from '../../../functions/events/derive.js';
import { newJobsAttributes } from '../../../functions/jobs/index.js';
import { MalformedItemError } from '../../../functions/kernel/item-reader.js';
import { newReplyItem } from '../../../functions/replies/items.js';

const COMMITTED = '2026-12-07T01:00:00.000Z';
const T = 'tenant-a';

function change(
  eventName: ChangeRecord['eventName'],
  oldImage?: Record<string, unknown>,
  newImage?: Record<string, unknown>,
): ChangeRecord {
  return {
    eventName,
    committedAt: COMMITTED,
    ...(oldImage ? { oldImage } : {}),
    ...(newImage ? { newImage } : {}),
  };
}

const message = (over: Partial<FiledMessage> = {}): FiledMessage => ({
  tenantId: T,
  messageId: 'm_1',
  conversationId: 'c_1',
  direction: 'in',
  channel: 'whatsapp',
  body: 'hello, this is private',
  providerMessageId: 'wamid.1',
  dedupeKey: 'k1',
  createdAt: '2026-12-07T00:59:58.000Z',
  receivedAt: '2026-12-07T00:59:59.000Z',
  e164: '+4915112345678',
  aliases: [],
  ...over,
});

describe('messages', () => {
  const claim = claimItem({
    tenantId: T,
    messageId: 'm_1',
    claimedAt: '2026-12-07T00:59:59.000Z',
    expiresAt: 1_800_000_000,
  });
  const filed = filedMessageItem(message(), newJobsAttributes('m_1', ['lead_match'], 0));

  it('a message filed over its claim is one message.received, without its body or phone', () => {
    const [event, ...rest] = deriveEvents(change('MODIFY', claim, filed));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: 'message.received',
      tenantId: T,
      occurredAt: '2026-12-07T00:59:58.000Z',
      data: {
        tenantId: T,
        conversationId: 'c_1',
        messageId: 'm_1',
        direction: 'in',
        channel: 'whatsapp',
        providerMessageId: 'wamid.1',
      },
    });
    const text = JSON.stringify(event);
    expect(text).not.toContain('private');
    expect(text).not.toContain('+4915112345678');
  });

  it('an outgoing message is message.sent; filed with no claim first (an insert) too', () => {
    const out = filedMessageItem(message({ direction: 'out' }), {});
    expect(deriveEvents(change('INSERT', undefined, out)).map((e) => e.type)).toEqual([
      'message.sent',
    ]);
  });

  it('the same filing seen twice gives the same id; another message another id', () => {
    const [a] = deriveEvents(change('MODIFY', claim, filed));
    const [b] = deriveEvents(change('MODIFY', claim, filed));
    const other = filedMessageItem(message({ messageId: 'm_2' }), {});
    const [c] = deriveEvents(change('INSERT', undefined, other));
    expect(a?.eventId).toBe(b?.eventId);
    expect(c?.eventId).not.toBe(a?.eventId);
    // One conversation, one entity: its messages are ordered together.
    expect(c?.entityKey).toBe(a?.entityKey);
  });

  it('a claim alone, a job state change and a removal are no events', () => {
    const running = {
      ...filed,
      jobs: { lead_match: { status: 'running', attempts: 1, generation: 1, updatedAt: COMMITTED } },
    };
    expect(deriveEvents(change('INSERT', undefined, claim))).toEqual([]);
    expect(deriveEvents(change('MODIFY', filed, running))).toEqual([]);
    expect(deriveEvents(change('REMOVE', filed, undefined))).toEqual([]);
  });
});

describe('conversations', () => {
  const conversation = {
    ...conversationKeys.conversation('c_old'),
    conversationId: 'c_old',
    conversationKey: `phone:${T}:+4915112345678`,
    tenantId: T,
    messageCount: 3,
  };

  it('a conversation merged into another is one conversation.merged, once', () => {
    const merged = { ...conversation, mergedInto: 'c_new' };
    const events = deriveEvents(change('MODIFY', conversation, merged));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'conversation.merged',
      occurredAt: COMMITTED,
      data: { conversationId: 'c_old', mergedInto: 'c_new' },
    });
    expect(deriveEvents(change('MODIFY', merged, { ...merged, messageCount: 0 }))).toEqual([]);
  });

  it('a conversation key item naming the same conversation is not a conversation', () => {
    const keyItem = {
      ...conversationKeys.conversationKey(conversation.conversationKey),
      conversationId: 'c_old',
      conversationKey: conversation.conversationKey,
      mergedInto: 'c_new',
    };
    expect(deriveEvents(change('INSERT', undefined, keyItem))).toEqual([]);
  });
});

describe('campaign recipients and campaigns', () => {
  const recipient = (status: string, attempts = 1) => ({
    pk: `CR#${T}#cmp_1#07`,
    sk: 'R#+4915112345678',
    kind: 'recipient',
    tenantId: T,
    campaignId: 'cmp_1',
    phone: '+4915112345678',
    status,
    attempts,
    createdAt: COMMITTED,
    updatedAt: '2026-12-07T01:00:05.000Z',
  });

  it('a recipient finishes once when its send settles; delivery progress after that is none', () => {
    expect(deriveEvents(change('MODIFY', recipient('pending', 0), recipient('sending')))).toEqual(
      [],
    );
    const [sent] = deriveEvents(change('MODIFY', recipient('sending'), recipient('sent')));
    expect(sent).toMatchObject({
      type: 'campaign.recipient.finished',
      occurredAt: '2026-12-07T01:00:05.000Z',
      data: { campaignId: 'cmp_1', phone: '+4915112345678', status: 'sent', attempts: 1 },
    });
    expect(deriveEvents(change('MODIFY', recipient('sent'), recipient('delivered')))).toEqual([]);
    expect(deriveEvents(change('MODIFY', recipient('delivered'), recipient('read')))).toEqual([]);
  });

  it('an unknown outcome proven sent by the provider finishes again, under another id', () => {
    const [unknown] = deriveEvents(change('MODIFY', recipient('sending'), recipient('unknown')));
    const [proven] = deriveEvents(change('MODIFY', recipient('unknown'), recipient('delivered')));
    expect(proven?.type).toBe('campaign.recipient.finished');
    expect(proven?.eventId).not.toBe(unknown?.eventId);
    expect(proven?.entityKey).toBe(unknown?.entityKey);
  });

  it('a recipient added already skipped is finished', () => {
    expect(
      deriveEvents(change('INSERT', undefined, recipient('skipped', 0))).map((e) => e.type),
    ).toEqual(['campaign.recipient.finished']);
  });

  it('a campaign completes once per completion', () => {
    const campaign = (status: string, completedAt?: string) => ({
      pk: `CAMPAIGN#${T}#cmp_1`,
      sk: 'META',
      kind: 'campaign',
      tenantId: T,
      campaignId: 'cmp_1',
      status,
      ...(completedAt ? { completedAt } : {}),
    });
    const [first] = deriveEvents(
      change('MODIFY', campaign('running'), campaign('completed', '2026-12-07T02:00:00.000Z')),
    );
    expect(first).toMatchObject({
      type: 'campaign.completed',
      occurredAt: '2026-12-07T02:00:00.000Z',
    });
    expect(
      deriveEvents(
        change(
          'MODIFY',
          campaign('completed', '2026-12-07T02:00:00.000Z'),
          campaign('completed', '2026-12-07T02:00:00.000Z'),
        ),
      ),
    ).toEqual([]);
    const [again] = deriveEvents(
      change('MODIFY', campaign('running'), campaign('completed', '2026-12-07T03:00:00.000Z')),
    );
    expect(again?.eventId).not.toBe(first?.eventId);
  });
});

describe('OCI conversions and ledger conversions', () => {
  const row = (status: string, extra: Record<string, unknown> = {}) => ({
    pk: `TENANT#${T}#CONV#oc_1`,
    sk: 'CONV',
    kind: 'conversion',
    tenantId: T,
    conversionId: 'oc_1',
    orderId: 'ocabc',
    callId: 'call-1',
    sessionId: 'session-1',
    status,
    ...extra,
  });

  it('completed, failed and retracted are each told once', () => {
    const completedAt = '2026-12-07T07:00:00.000Z';
    expect(
      deriveEvents(change('MODIFY', row('processing'), row('completed', { completedAt }))).map(
        (e) => [e.type, e.occurredAt],
      ),
    ).toEqual([['oci.conversion.completed', completedAt]]);
    expect(
      deriveEvents(
        change('MODIFY', row('processing'), row('failed', { lastError: 'UNPARSEABLE_GCLID' })),
      ).map((e) => [e.type, e.data.error]),
    ).toEqual([['oci.conversion.failed', 'UNPARSEABLE_GCLID']]);
    const retractedAt = '2026-12-08T07:00:00.000Z';
    expect(
      deriveEvents(
        change(
          'MODIFY',
          row('completed', { completedAt }),
          row('completed', { completedAt, retractedAt }),
        ),
      ).map((e) => e.type),
    ).toEqual(['oci.conversion.retracted']);
    expect(deriveEvents(change('MODIFY', row('queued'), row('processing')))).toEqual([]);
    // Its retraction row is no conversion.
    expect(
      deriveEvents(
        change('INSERT', undefined, { ...row('queued'), kind: 'adjustment', sk: 'RETRACT' }),
      ),
    ).toEqual([]);
  });

  it('a ledger conversion is logged once, when its item is created', () => {
    const conversion = {
      pk: `LU#${T}#u1`,
      sk: 'C#signature_obtained#unsigned_users#1',
      conversionId: 'cv_1',
      tenantId: T,
      userId: 'u1',
      type: 'signature_obtained',
      queueType: 'unsigned_users',
      stayId: 'st_1',
      stayNo: 1,
      source: 'cleanup',
      occurredAt: '2026-12-07T00:00:00.000Z',
      loggedAt: '2026-12-07T00:10:00.000Z',
      evidenceId: 'e:1',
    };
    expect(deriveEvents(change('INSERT', undefined, conversion))).toEqual([
      expect.objectContaining({
        type: 'ledger.conversion.logged',
        occurredAt: '2026-12-07T00:10:00.000Z',
        data: expect.objectContaining({ conversionId: 'cv_1', source: 'cleanup', userId: 'u1' }),
      }),
    ]);
    expect(deriveEvents(change('MODIFY', conversion, conversion))).toEqual([]);
  });

  it('a malformed effect item is an error naming the attribute, never its value', () => {
    expect(() =>
      deriveEvents(change('MODIFY', row('processing'), row('exploded', { lastError: 'x' }))),
    ).toThrow(MalformedItemError);
  });
});

describe('replies', () => {
  // The reply's item as the replies context stores it when queued, then as its send moves it.
  const queued = newReplyItem(
    {
      tenantId: T,
      messageId: 'r_0123456789abcdef0123456789abcdef',
      conversationId: 'c_1',
      channel: 'whatsapp',
      body: 'a private answer',
      source: 'agent',
      to: '+4915112345678',
      from: '1234567890',
      createdAt: '2026-12-07T00:59:58.000Z',
      requestHash: 'h',
    },
    '2026-12-07T01:10:00.000Z',
  );
  const at = (status: string, statusAt: string, extra: Record<string, unknown> = {}) => ({
    ...queued,
    status,
    statusAt,
    ...extra,
  });
  const sending = at('sending', '2026-12-07T00:59:59.000Z');
  const sent = at('sent', '2026-12-07T01:00:01.000Z', { providerMessageId: 'wamid.r1' });
  const delivered = at('delivered', '2026-12-07T01:00:05.000Z', { providerMessageId: 'wamid.r1' });

  it('queued and claimed are no events: a reply is told by its send, not by being filed', () => {
    expect(deriveEvents(change('INSERT', undefined, queued))).toEqual([]);
    expect(deriveEvents(change('MODIFY', queued, sending))).toEqual([]);
  });

  it('accepted is one message.sent, each later status one message.status, without the body', () => {
    const [sentEvent, ...noMore] = deriveEvents(change('MODIFY', sending, sent));
    expect(noMore).toEqual([]);
    expect(sentEvent?.type).toBe('message.sent');
    expect(sentEvent?.occurredAt).toBe('2026-12-07T01:00:01.000Z');
    expect(sentEvent?.data).toMatchObject({ status: 'sent', providerMessageId: 'wamid.r1' });
    const [statusEvent] = deriveEvents(change('MODIFY', sent, delivered));
    expect(statusEvent?.type).toBe('message.status');
    expect(statusEvent?.data).toMatchObject({ status: 'delivered', conversationId: 'c_1' });
    expect(JSON.stringify([sentEvent, statusEvent])).not.toContain('private');
    // Same conversation entity: a reply's events are ordered with the conversation's messages.
    expect(statusEvent?.entityKey).toBe(sentEvent?.entityKey);
    expect(statusEvent?.eventId).not.toBe(sentEvent?.eventId);
  });

  it('a status seen again (a redelivered record, a repeated write) yields the same id or none', () => {
    const once = deriveEvents(change('MODIFY', sent, delivered));
    expect(deriveEvents(change('MODIFY', sent, delivered))).toEqual(once);
    expect(deriveEvents(change('MODIFY', delivered, delivered))).toEqual([]);
  });

  it("an echo alias (the provider's copy of a reply) is never a message of its own", () => {
    const alias = filedMessageItem(
      message({ messageId: 'm_echo', direction: 'out', providerMessageId: 'wamid.r1' }),
      newJobsAttributes('m_echo', [], 0),
    );
    expect(deriveEvents(change('MODIFY', alias, { ...alias, replyOf: queued.messageId }))).toEqual(
      [],
    );
    expect(deriveEvents(change('INSERT', undefined, { ...alias, replyOf: 'r_x' }))).toEqual([]);
  });
});
