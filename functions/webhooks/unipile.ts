/**
 * Unipile's webhooks: LinkedIn, Instagram, Telegram and WhatsApp messages ("New messages") and
 * e-mail ("New email"), each stored once into the person's one conversation.
 *
 * Shapes (Unipile's own definitions; `unipile-node-sdk` 1.9.3 types the webhook *creation* and the
 * message and mail resources, not the payloads, so the payloads are taken from the docs):
 * - Messaging (developer.unipile.com/docs/new-messages-webhook): `account_id`, `account_type`,
 *   `account_info` (`type`, `feature`, `user_id`: the connected user's own provider id), `event`
 *   (`message_received`, `message_reaction`, `message_read`, and `message_edited`,
 *   `message_deleted`, `message_delivered`), `chat_id`, `timestamp`, `message_id`, `message`,
 *   `sender` and `attendees` (`attendee_id`, `attendee_name`, `attendee_provider_id`,
 *   `attendee_profile_url`). "Sent messages are included because they can be sent by the
 *   connected user from another device": a `message_received` whose `sender.attendee_provider_id`
 *   is `account_info.user_id` is the account's own, filed `direction: "out"` (the replies pipeline
 *   matches it to the reply onceflow sent by its provider id, `message_id`, in the common path).
 * - E-mail (developer.unipile.com/docs/new-emails-webhook): `email_id`, `account_id`, `event`
 *   (`mail_received`, `mail_sent` for mail the account sent, from any device or through the API),
 *   `date`, `from_attendee` / `to_attendees` (`display_name`, `identifier`, `identifier_type`),
 *   `message_id` (the RFC 5322 `Message-ID`), `subject`, `body`, `body_plain`, `role`, `origin`
 *   (`unipile` for mail sent through the API, else `external`), `tracking_id` (the id
 *   `POST /api/v1/emails` answered: `MailSentApiResponseSchema` in the SDK's
 *   `mails/mail.send.types`), `in_reply_to`.
 * - Account status webhooks (`{"AccountStatus": {"account_id", ...}}`) and e-mail tracking
 *   (`mail_opened`, `mail_link_clicked`) may be pointed at the same URL: acknowledged, ignored.
 *
 * Unipile retries a webhook not answered 200 within 30 s five times: every item here is a few
 * DynamoDB writes, and a payload whose person cannot be named is counted, never refused, so a
 * legitimate delivery is never answered 4xx and lost to the retries.
 */
import {
  aliasPerson,
  applyOutboundStatus,
  type InboundDeps,
  identifyPerson,
  type MessageChannel,
  messageIdFor,
  type PersonIdentity,
  type ProviderNetwork,
} from '../conversations/index.js';
import { isoTime } from '../kernel/clock.js';
import { parseWith } from '../kernel/http.js';
import { putOnce } from '../kernel/put-once.js';
import * as z from '../kernel/zod.js';
import type { Tenant } from '../tenants/index.js';
import { filePersonMessage } from './file-message.js';
import { messageKeys, unipileRawItem } from './items.js';
import { type OutcomeCounts, OutcomeTally } from './outcomes.js';
import { providerId as id } from './payload-fields.js';

/** What is kept of a body: a long HTML mail is stored cut, never refused for its length. */
const MAX_BODY_CHARS = 16_384;
/** An optional field that may arrive as `null` or an empty string. */
const optionalText = z.nullable(z.optional(z.string()));

const attendeeSchema = z.looseObject({
  attendee_id: optionalText,
  attendee_name: optionalText,
  attendee_provider_id: optionalText,
  attendee_profile_url: optionalText,
});

/** The fields every Unipile webhook is routed by. */
export const unipileEnvelopeSchema = z.looseObject({
  event: z.nullable(z.optional(z.string().check(z.minLength(1), z.maxLength(128)))),
  account_id: z.nullable(z.optional(id)),
  /** Account status webhooks carry the account inside. */
  AccountStatus: z.nullable(z.optional(z.looseObject({ account_id: z.nullable(z.optional(id)) }))),
});
export type UnipileEnvelope = z.output<typeof unipileEnvelopeSchema>;

export const unipileMessageSchema = z.looseObject({
  account_id: id,
  account_type: optionalText,
  account_info: z.nullable(
    z.optional(z.looseObject({ type: optionalText, feature: optionalText, user_id: optionalText })),
  ),
  event: z.string(),
  chat_id: id,
  timestamp: optionalText,
  message_id: id,
  message: optionalText,
  sender: z.nullable(z.optional(attendeeSchema)),
  attendees: z.nullable(z.optional(z.array(attendeeSchema).check(z.maxLength(10_000)))),
});
export type UnipileMessageEvent = z.output<typeof unipileMessageSchema>;

const mailAttendeeSchema = z.looseObject({
  display_name: optionalText,
  identifier: optionalText,
  identifier_type: optionalText,
});

export const unipileMailSchema = z
  .looseObject({
    /** `email_id` in the current docs; `id` (with `object: "Mail"`) in the older example. */
    email_id: z.nullable(z.optional(id)),
    id: z.nullable(z.optional(id)),
    account_id: id,
    event: z.string(),
    date: optionalText,
    from_attendee: z.nullable(z.optional(mailAttendeeSchema)),
    to_attendees: z.nullable(z.optional(z.array(mailAttendeeSchema).check(z.maxLength(10_000)))),
    /** RFC 5322 allows a line of 998 characters; a Message-ID is one header line. */
    message_id: z.nullable(z.optional(z.string().check(z.maxLength(998)))),
    subject: optionalText,
    body: optionalText,
    body_plain: optionalText,
    role: optionalText,
    origin: optionalText,
    tracking_id: optionalText,
  })
  .check(
    z.refine((mail) => Boolean(mail.email_id ?? mail.id), {
      message: 'a mail event names its email_id',
      path: ['email_id'],
    }),
  );
export type UnipileMailEvent = z.output<typeof unipileMailSchema>;

/** The account an event belongs to (top level, or inside an account status event). */
export function accountOf(envelope: UnipileEnvelope): string | undefined {
  return envelope.account_id ?? envelope.AccountStatus?.account_id ?? undefined;
}

export type UnipileEventKind = 'message' | 'mail' | 'status' | 'ignored';

/**
 * `message_received` carries a message and `mail_received` / `mail_sent` a mail; `message_read` and
 * `message_delivered` may move a reply onceflow sent (`receiveUnipileStatus`); reactions, edits,
 * deletions, e-mail tracking and account status are acknowledged and ignored.
 *
 * Sources: `unipile-node-sdk` 1.9.3 `WebhookMessagingTriggerEventSchema` (`webhooks/ressource.types`)
 * lists `message_received`, `message_read`, `message_reaction` as the events a messaging webhook
 * can be created for; developer.unipile.com/docs/new-messages-webhook shows the same payload (with
 * `message_id` and `chat_id`) for each. `message_delivered` is in neither the SDK's enum nor that
 * page's example but in the webhook's event list of the dashboard docs the contract cites: handled
 * the same way, so a delivery receipt, when Unipile sends one, moves a reply to `delivered`.
 */
export function kindOf(event: string | null | undefined): UnipileEventKind {
  if (event === 'message_received') return 'message';
  if (event === 'mail_received' || event === 'mail_sent') return 'mail';
  if (event === 'message_read' || event === 'message_delivered') return 'status';
  return 'ignored';
}

/**
 * The channel and person key of an account type (`account_type`, else `account_info.type`;
 * Unipile's provider names: `LINKEDIN`, `INSTAGRAM`, `TELEGRAM`, `WHATSAPP`, ...).
 *
 * A WhatsApp account connected through Unipile is a linked device of the tenant's WhatsApp, as a
 * Baileys gateway is: its messages are filed `whatsapp_web`, and its attendees' provider ids are
 * WhatsApp JIDs (`33612345678@s.whatsapp.net`), read by the same WhatsApp id rules, so they land in
 * the phone's one conversation beside the Cloud API's and Evolution's.
 */
function networkOf(
  accountType: string | null | undefined,
): { channel: MessageChannel; network: ProviderNetwork | 'whatsapp' } | undefined {
  switch ((accountType ?? '').toUpperCase()) {
    case 'LINKEDIN':
      return { channel: 'linkedin', network: 'linkedin' };
    case 'INSTAGRAM':
      return { channel: 'instagram', network: 'instagram' };
    case 'TELEGRAM':
      return { channel: 'telegram', network: 'telegram' };
    case 'WHATSAPP':
      return { channel: 'whatsapp_web', network: 'whatsapp' };
    default:
      return undefined;
  }
}

function personOf(
  tenant: Tenant,
  network: ProviderNetwork | 'whatsapp',
  providerId: string,
): PersonIdentity | undefined {
  if (network === 'whatsapp') {
    const person = identifyPerson([providerId], { defaultCountry: tenant.defaultCountry });
    return person.e164 !== undefined || person.aliases.length > 0 ? person : undefined;
  }
  return aliasPerson({ network, providerId });
}

/** Provider time when it is a plausible ISO time, else receipt time. */
function timeOf(raw: string | null | undefined, nowMs: number): string {
  const ms = raw ? Date.parse(raw) : Number.NaN;
  return Number.isFinite(ms) && ms <= nowMs + 24 * 3600 * 1000
    ? new Date(ms).toISOString()
    : new Date(nowMs).toISOString();
}

export function parseUnipileMessage(body: unknown): UnipileMessageEvent {
  return parseWith(unipileMessageSchema, body);
}

export function parseUnipileMail(body: unknown): UnipileMailEvent {
  return parseWith(unipileMailSchema, body);
}

export async function receiveUnipileMessage(
  deps: InboundDeps,
  tenant: Tenant,
  event: UnipileMessageEvent,
): Promise<OutcomeCounts> {
  const tally = new OutcomeTally('unipile');
  const accountType = event.account_type ?? event.account_info?.type;
  const net = networkOf(accountType);
  if (!net) {
    await keepRaw(deps, tally, tenant, event, accountType);
    return tally.totals();
  }
  const own = event.account_info?.user_id || undefined;
  const senderId = event.sender?.attendee_provider_id || undefined;
  const outbound = own !== undefined && senderId === own;
  // Inbound: the sender. The account's own: the one attendee who is not the account, when the
  // payload names exactly one; otherwise (a group, or no attendees listed) the chat itself.
  const counterparts = outbound
    ? [
        ...new Set(
          (event.attendees ?? [])
            .map((a) => a.attendee_provider_id)
            .filter((p): p is string => Boolean(p) && p !== own),
        ),
      ]
    : [];
  const personId = outbound ? (counterparts.length === 1 ? counterparts[0] : undefined) : senderId;
  const person =
    (personId ? personOf(tenant, net.network, personId) : undefined) ??
    aliasPerson({ accountId: event.account_id, chatId: event.chat_id });
  const name = outbound ? undefined : event.sender?.attendee_name?.trim();
  await filePersonMessage(deps, tally, tenant, person, () => ({
    channel: net.channel,
    direction: outbound ? 'out' : 'in',
    dedupeKey: messageKeys.unipile(event.message_id),
    providerMessageId: event.message_id,
    providerAccountId: event.account_id,
    providerChatId: event.chat_id,
    ...(outbound ? {} : { replyAddress: { accountId: event.account_id, to: event.chat_id } }),
    body: (event.message ?? '').slice(0, MAX_BODY_CHARS),
    createdAt: timeOf(event.timestamp, deps.clock.now()),
    ...(name ? { profileName: name } : {}),
  }));
  return tally.totals();
}

/**
 * A message of an account type no channel routes yet (Unipile's `MessagingAccountTypeSchema` in
 * the SDK also has MESSENGER, TWITTER and SLACK, and `accountSourceProviderSchema` MOBILE; Unipile
 * may add more): a legitimate payload, so it is never dropped. It is kept once under its raw id
 * (`keys.unipileRaw`, tenant and `message_id`), counted `unroutable` (the metric says how many wait
 * for a channel) and logged with its account type, so it can be routed once a channel exists.
 */
async function keepRaw(
  deps: InboundDeps,
  tally: OutcomeTally,
  tenant: Tenant,
  event: UnipileMessageEvent,
  accountType: string | null | undefined,
): Promise<void> {
  const type = (accountType ?? '').toUpperCase().slice(0, 64) || 'UNKNOWN';
  const sender = event.sender?.attendee_provider_id || undefined;
  const kept = await putOnce(deps.ddb, {
    table: deps.table,
    item: unipileRawItem({
      tenantId: tenant.tenantId,
      accountId: event.account_id,
      accountType: type,
      chatId: event.chat_id,
      messageId: event.message_id,
      event: event.event,
      ...(sender ? { senderProviderId: sender } : {}),
      body: (event.message ?? '').slice(0, MAX_BODY_CHARS),
      ...(event.timestamp ? { timestamp: event.timestamp } : {}),
      receivedAt: isoTime(deps.clock),
    }),
  });
  tally.record(kept.created ? 'unroutable' : 'deduped', 'account_type_kept_raw', {
    tenantId: tenant.tenantId,
    accountType: type,
  });
}

/**
 * `message_read` / `message_delivered` about a message: when `message_id` is a reply onceflow sent
 * (its record write claimed the message item of that id, `echoKeyOf`), the reply moves forward to
 * `read` / `delivered` (never back: `advanceOutboundStatus`); any other message (the person's own,
 * one sent from another device) changes nothing and the event is acknowledged as ignored.
 */
export async function receiveUnipileStatus(
  deps: InboundDeps,
  tenant: Tenant,
  event: UnipileMessageStatusEvent,
): Promise<OutcomeCounts | { readonly ignored: true }> {
  const applied = await applyOutboundStatus(deps, tenant.tenantId, {
    echoMessageId: messageIdFor(tenant.tenantId, messageKeys.unipile(event.message_id)),
    providerMessageId: event.message_id,
    status: event.event === 'message_read' ? 'read' : 'delivered',
  });
  if (!applied?.matched) return { ignored: true };
  const tally = new OutcomeTally('unipile');
  tally.record(applied.applied ? 'stored' : 'deduped', 'reply_status', {
    tenantId: tenant.tenantId,
  });
  return tally.totals();
}

export const unipileMessageStatusSchema = z.looseObject({
  account_id: id,
  event: z.enum(['message_read', 'message_delivered']),
  message_id: id,
});
export type UnipileMessageStatusEvent = z.output<typeof unipileMessageStatusSchema>;

export function parseUnipileMessageStatus(body: unknown): UnipileMessageStatusEvent {
  return parseWith(unipileMessageStatusSchema, body);
}

export async function receiveUnipileMail(
  deps: InboundDeps,
  tenant: Tenant,
  mail: UnipileMailEvent,
): Promise<OutcomeCounts> {
  const tally = new OutcomeTally('unipile');
  const emailId = (mail.email_id ?? mail.id) as string;
  const outbound = mail.event === 'mail_sent';
  // A mail the account sent is filed under its (first) recipient, one it received under its sender.
  const party = outbound
    ? (mail.to_attendees ?? []).find((a) => a.identifier?.trim())
    : mail.from_attendee;
  const address = party?.identifier?.trim();
  if (!address) {
    tally.record('unroutable', outbound ? 'no_recipient' : 'no_sender', {
      tenantId: tenant.tenantId,
    });
    return tally.totals();
  }
  const rfcId = mail.message_id?.trim().replace(/^<|>$/g, '');
  // A mail sent through the API is known to onceflow by the `tracking_id` the send answered.
  const sentHandle = mail.origin === 'unipile' && mail.tracking_id ? mail.tracking_id : undefined;
  const name = outbound ? undefined : party?.display_name?.trim();
  const text = mail.body_plain?.trim() ? mail.body_plain : (mail.body ?? '');
  await filePersonMessage(deps, tally, tenant, aliasPerson({ email: address }), () => ({
    channel: 'email',
    direction: outbound ? 'out' : 'in',
    // A mail onceflow sent is filed under its `tracking_id`: the key its reply's record claimed.
    dedupeKey: sentHandle
      ? messageKeys.unipileSent(sentHandle)
      : rfcId
        ? messageKeys.unipileMail(rfcId)
        : messageKeys.unipileMailId(emailId),
    providerMessageId: sentHandle ?? rfcId ?? emailId,
    providerAccountId: mail.account_id,
    providerEmailId: emailId,
    ...(outbound
      ? {}
      : {
          replyAddress: { accountId: mail.account_id, to: address.toLowerCase(), replyTo: emailId },
        }),
    ...(mail.subject ? { subject: mail.subject } : {}),
    body: text.slice(0, MAX_BODY_CHARS),
    createdAt: timeOf(mail.date, deps.clock.now()),
    ...(name ? { profileName: name } : {}),
  }));
  return tally.totals();
}
