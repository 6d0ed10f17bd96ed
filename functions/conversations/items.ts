/**
 * The conversations context's items in the `inbound` table: the one `keys` object (the only place
 * a key string of this context is built or parsed), the item types, builders of the stored items
 * and parsers from raw items. Nothing above the adapters sees a raw item.
 *
 * - `CKEY#<conversationKey> / CKEY` → `conversationId`: the uniqueness item of a conversation key
 *   (`lead:{tenant}:{leadId}`, `phone:{tenant}:{e164}`, `alias:{tenant}:{lid|bsuid|pn}`).
 * - `CONV#<conversationId> / CONV`: the conversation (counters, display fields, `mergedInto` once
 *   merged). Listed per tenant by recency on `gsi1` under one of `LISTING_SHARDS` keys
 *   (`TCONV#<tenant>#<shard>`, sort key `<lastMessageAt>#<conversationId>`), so no tenant's listing
 *   is one hot partition.
 * - `CONV#<conversationId> / M#<messageId>`: the membership of a message in a conversation, written
 *   in the same transaction as the message. A merge finds the messages to move by a strongly
 *   consistent query of these (never through the eventually consistent `gsi1`).
 * - `MSG#<messageId> / MSG`: the message, with its post-processing jobs (the jobs context keeps the
 *   `jobs` map and the sweep keys; it gets this key from here). Listed per conversation on `gsi1`
 *   (`CMSG#<conversationId>`, sort key `<createdAt>#<messageId>`). Before it is filed it is only a
 *   claim (no `conversationId`).
 * - `LINK#<tenant>#<alias> / LINK` → `e164`: an alias seen beside a phone.
 * - `LEAD#<tenant>#<leadId> / LEAD` and `LEADPHONE#<tenant>#<e164> / LEADPHONE` → `leadId`.
 *
 * Aliases (`lid:<digits>`, `bsuid:<id>`, `pn:<digits>`, and for people reached through Unipile
 * `li:<provider id>`, `ig:<provider id>`, `tg:<provider id>`, `email:<lower-cased address>`) and
 * conversation keys are spelled here too.
 */
import { type JobHostItems, type JobsAttributes, type JobsMap, parseJobs } from '../jobs/index.js';
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';

/** A table key (a type, not an interface, so it is an `Item` where the kernel takes one). */
export type Key = { readonly pk: string; readonly sk: string };

/**
 * Shards of a tenant's conversation listing. Every message rewrites its conversation's listing
 * sort key; with one key per tenant a tenant above ~1,000 messages/s would throttle that index
 * partition (docs/scale.md has the arithmetic).
 */
export const LISTING_SHARDS = 32;

const CKEY_PREFIX = 'CKEY#';
const MEMBER_PREFIX = 'M#';

export function listingShard(conversationId: string): number {
  return Number.parseInt(sha256Hex(conversationId).slice(0, 4), 16) % LISTING_SHARDS;
}

export const keys = {
  /** The uniqueness item of a conversation key. */
  conversationKey: (key: string): Key => ({ pk: `${CKEY_PREFIX}${key}`, sk: 'CKEY' }),
  conversation: (conversationId: string): Key => ({ pk: `CONV#${conversationId}`, sk: 'CONV' }),
  member: (conversationId: string, messageId: string): Key => ({
    pk: `CONV#${conversationId}`,
    sk: `${MEMBER_PREFIX}${messageId}`,
  }),
  /** The membership items of a conversation: its partition, and their sort key prefix. */
  members: (conversationId: string) => ({
    pk: keys.conversation(conversationId).pk,
    skPrefix: MEMBER_PREFIX,
  }),
  message: (messageId: string): Key => ({ pk: `MSG#${messageId}`, sk: 'MSG' }),
  link: (tenantId: string, alias: string): Key => ({ pk: `LINK#${tenantId}#${alias}`, sk: 'LINK' }),
  lead: (tenantId: string, leadId: string): Key => ({
    pk: `LEAD#${tenantId}#${leadId}`,
    sk: 'LEAD',
  }),
  leadPhone: (tenantId: string, e164: string): Key => ({
    pk: `LEADPHONE#${tenantId}#${e164}`,
    sk: 'LEADPHONE',
  }),
  /** `gsi1`: one shard of a tenant's conversations by recency. */
  listing: (tenantId: string, shard: number) => `TCONV#${tenantId}#${shard}`,
  listingOf: (tenantId: string, conversationId: string) =>
    keys.listing(tenantId, listingShard(conversationId)),
  /** `gsi1` sort key of the listing: unique per tenant, ordered by the last message. */
  listingSort: (lastMessageAt: string, conversationId: string) =>
    `${lastMessageAt}#${conversationId}`,
  /** `gsi1`: a conversation's messages, oldest first. */
  conversationMessages: (conversationId: string) => `CMSG#${conversationId}`,
  messageSort: (createdAt: string, messageId: string) => `${createdAt}#${messageId}`,
};

/** The conversation key a `CKEY` item's partition key stands for. */
function keyOfKeyItem(pk: string): string {
  return pk.startsWith(CKEY_PREFIX) ? pk.slice(CKEY_PREFIX.length) : pk;
}

// --- conversation keys and aliases ---------------------------------------------------------------

/** The aliases a person can be known by when the payload hides the phone. */
export const aliases = {
  lid: (digits: string) => `lid:${digits}`,
  bsuid: (id: string) => `bsuid:${id}`,
  /** A phone id's raw digits (the same digits, parsed or not). */
  rawPhone: (digits: string) => `pn:${digits.replace(/^\+/, '')}`,
  /**
   * A LinkedIn, Instagram or Telegram person: the sender's `attendee_provider_id` for that provider
   * (Unipile, developer.unipile.com/docs/new-messages-webhook). Case is kept: LinkedIn's `ACoAA…`
   * ids are case-sensitive.
   */
  linkedin: (providerId: string) => `li:${providerId}`,
  instagram: (providerId: string) => `ig:${providerId}`,
  telegram: (providerId: string) => `tg:${providerId}`,
  /** An e-mail person: the address, trimmed and lower-cased (as `PUT /v1/leads` `emails` are). */
  email: (address: string) => `email:${address.trim().toLowerCase()}`,
  /**
   * A Unipile chat whose person the payload does not name (the account's own message in a chat
   * whose attendees are not listed): kept under the chat, never dropped.
   */
  unipileChat: (accountId: string, chatId: string) => `uchat:${accountId}:${chatId}`,
};

/** Every channel a message can come or go on (api.md, "Conversations"). */
export const MESSAGE_CHANNELS = [
  'whatsapp',
  'whatsapp_web',
  'sms',
  'linkedin',
  'instagram',
  'telegram',
  'email',
] as const;
export type MessageChannel = (typeof MESSAGE_CHANNELS)[number];

function toChannel(value: unknown): MessageChannel | undefined {
  return (MESSAGE_CHANNELS as readonly unknown[]).includes(value)
    ? (value as MessageChannel)
    : undefined;
}

/**
 * The conversation key: `lead:{tenant}:{leadId}` for a known lead, else `phone:{tenant}:{e164}`.
 * A person seen only under an unlinked alias gets `alias:{tenant}:{alias}` (an extension of the
 * contract) until a payload links the alias to a phone.
 */
export function conversationKey(
  tenantId: string,
  target: { readonly leadId?: string; readonly e164?: string; readonly alias?: string },
): string {
  if (target.leadId) return `lead:${tenantId}:${target.leadId}`;
  if (target.e164) return `phone:${tenantId}:${target.e164}`;
  if (target.alias) return `alias:${tenantId}:${target.alias}`;
  throw new Error('a conversation key needs a lead, a phone or an alias');
}

/** What a conversation key names: its kind and the rest (`lead:t:l` → `lead`, `l`). */
export function parseConversationKey(key: string): { kind: string; tenantId: string; id: string } {
  const [kind = '', tenantId = '', ...rest] = key.split(':');
  return { kind, tenantId, id: rest.join(':') };
}

/** Deterministic: the same key always names the same conversation id. */
export function conversationIdFor(key: string): string {
  return `c_${sha256Hex(key).slice(0, 32)}`;
}

// --- item types and parsers ----------------------------------------------------------------------

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((a): a is string => typeof a === 'string') : [];
/** The fields of `optional` that are set (so a parsed item carries no `undefined` values). */
const present = <T extends Record<string, unknown>>(optional: T): Partial<T> =>
  Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as Partial<T>;

/** A `CONV#<id> / CONV` item. */
export interface ConversationItem {
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly tenantId?: string;
  readonly e164?: string;
  readonly profileName?: string;
  readonly leadId?: string;
  readonly leadName?: string;
  readonly lastMessageAt?: string;
  readonly messageCount: number;
  /** Set once the conversation was folded into another (its survivor, or the next hop to it). */
  readonly mergedInto?: string;
  /** Its `gsi1` sort key while it is listed (absent once merged). */
  readonly listingSort?: string;
  /** The person's latest inbound message: a reply's default channel. */
  readonly lastInboundAt?: string;
  readonly lastInboundChannel?: string;
  /** The person's latest inbound WhatsApp message: the 24-hour service window opens there. */
  readonly lastWhatsAppInboundAt?: string;
  /** Where a reply on each Unipile channel goes: the person's latest inbound message there. */
  readonly replyAddresses?: Readonly<Partial<Record<MessageChannel, ReplyAddress>>>;
}

/**
 * A person's address on a channel whose provider answers a thread, not a phone (Unipile): the
 * tenant's account the person wrote to, the chat (or e-mail address) to answer, and for e-mail the
 * provider's id of the mail answered (`reply_to`, so the answer is threaded).
 */
export interface ReplyAddress {
  readonly accountId: string;
  readonly to: string;
  readonly replyTo?: string;
}

/** The conversation attribute of a channel's reply address (one top-level map per channel). */
export const replyAddressAttribute = (channel: MessageChannel): string => `replyVia_${channel}`;

function toReplyAddresses(item: Item): Partial<Record<MessageChannel, ReplyAddress>> | undefined {
  const out: Partial<Record<MessageChannel, ReplyAddress>> = {};
  for (const channel of MESSAGE_CHANNELS) {
    const raw = item[replyAddressAttribute(channel)];
    if (!raw || typeof raw !== 'object') continue;
    const { accountId, to, replyTo } = raw as Record<string, unknown>;
    if (typeof accountId !== 'string' || typeof to !== 'string') continue;
    out[channel] = { accountId, to, ...(typeof replyTo === 'string' ? { replyTo } : {}) };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Parses a stored conversation item (from the table or the `gsi1` projection). */
export function toConversationItem(item: Item): ConversationItem {
  return {
    conversationId: String(item.conversationId),
    conversationKey: String(item.conversationKey),
    messageCount: typeof item.messageCount === 'number' ? item.messageCount : 0,
    ...present({
      tenantId: str(item.tenantId),
      e164: str(item.e164),
      profileName: str(item.profileName),
      leadId: str(item.leadId),
      leadName: str(item.leadName),
      lastMessageAt: str(item.lastMessageAt),
      mergedInto: str(item.mergedInto),
      listingSort: str(item.gsi1sk),
      lastInboundAt: str(item.lastInboundAt),
      lastInboundChannel: str(item.lastInboundChannel),
      lastWhatsAppInboundAt: str(item.lastWhatsAppInboundAt),
      replyAddresses: toReplyAddresses(item),
    }),
  };
}

/** A `CKEY` item: where a conversation key's messages go. */
export interface KeyItem {
  readonly key: string;
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly leadId?: string;
}

export function toKeyItem(item: Item): KeyItem | undefined {
  if (typeof item.conversationId !== 'string' || typeof item.pk !== 'string') return undefined;
  const key = keyOfKeyItem(item.pk);
  return {
    key,
    conversationId: item.conversationId,
    conversationKey: typeof item.conversationKey === 'string' ? item.conversationKey : key,
    ...(typeof item.leadId === 'string' ? { leadId: item.leadId } : {}),
  };
}

export const isKeyItem = (item: Item) => item.sk === 'CKEY';

/** The stored `CKEY` item. */
export function keyItem(tenantId: string, key: string, to: Omit<KeyItem, 'key'>): Item {
  return {
    ...keys.conversationKey(key),
    tenantId,
    conversationId: to.conversationId,
    conversationKey: to.conversationKey,
    ...(to.leadId ? { leadId: to.leadId } : {}),
  };
}

/** A `LINK` item: an alias seen beside a phone. */
export interface LinkItem {
  readonly alias: string;
  readonly e164: string;
}

export function toLinkItem(item: Item): LinkItem | undefined {
  if (item.sk !== 'LINK' || typeof item.e164 !== 'string' || typeof item.alias !== 'string')
    return undefined;
  return { alias: item.alias, e164: item.e164 };
}

export function linkItem(tenantId: string, link: LinkItem): Item {
  return { ...keys.link(tenantId, link.alias), tenantId, alias: link.alias, e164: link.e164 };
}

/** A message's membership in a conversation. */
export interface MemberItem {
  readonly tenantId: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly createdAt: string;
}

export function toMemberItem(item: Item): MemberItem {
  return {
    tenantId: String(item.tenantId),
    messageId: String(item.messageId),
    conversationId: String(item.conversationId),
    createdAt: String(item.createdAt),
  };
}

export function memberItem(member: MemberItem): Item {
  return { ...keys.member(member.conversationId, member.messageId), ...member };
}

/** The message as filed (the claim's fields, then everything the filing put writes). */
export interface FiledMessage {
  readonly tenantId: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly direction: 'in' | 'out';
  readonly channel: MessageChannel;
  readonly body: string;
  readonly providerMessageId?: string;
  /**
   * Where a reply to this message is sent from and to, at providers that need more than the person
   * (Unipile): the account it came on, the chat (messaging: `POST /api/v1/chats/{chat_id}/messages`)
   * or the e-mail replied to (`POST /api/v1/emails` `reply_to` takes the Unipile `email_id`).
   */
  readonly providerAccountId?: string;
  readonly providerChatId?: string;
  readonly providerEmailId?: string;
  /** An e-mail's subject (a reply's is `Re: <subject>`). */
  readonly subject?: string;
  readonly dedupeKey: string;
  readonly createdAt: string;
  readonly receivedAt: string;
  readonly e164?: string;
  readonly aliases: readonly string[];
  readonly profileName?: string;
  readonly groupId?: string;
}

/**
 * A `MSG#<id> / MSG` item: a claim (no `conversationId` yet: a delivery that has not filed it) or
 * a filed message, with the jobs the jobs context keeps in it. Stored items of older releases may
 * lack fields: those read as absent.
 */
export interface MessageItem extends Partial<Omit<FiledMessage, 'tenantId' | 'messageId'>> {
  readonly tenantId: string;
  readonly messageId: string;
  readonly aliases: readonly string[];
  readonly jobs: JobsMap;
  readonly sweepAt?: string;
  readonly claimedAt?: string;
  /** A claim's expiry (epoch seconds, the table's TTL); the filing put drops it. */
  readonly expiresAt?: number;
  /** An outbound message onceflow sends (a reply): where it stands (`outbound.ts`). */
  readonly status?: string;
  /** When a reply's `status` last moved (`outbound.ts`). */
  readonly statusAt?: string;
  /** An echo alias: the provider's copy of this reply (`outbound.ts`), never listed. */
  readonly replyOf?: string;
}

/** A message item from its stored item, or undefined when the item is not one. */
export function toMessageItem(item: Item): MessageItem | undefined {
  if (item.kind !== 'message' || typeof item.messageId !== 'string') return undefined;
  const direction: FiledMessage['direction'] | undefined =
    item.direction === 'out' ? 'out' : item.direction === 'in' ? 'in' : undefined;
  const channel = toChannel(item.channel);
  return {
    tenantId: String(item.tenantId),
    messageId: item.messageId,
    aliases: strings(item.aliases),
    jobs: parseJobs(item.jobs),
    ...(item.jobs === undefined ? { jobless: true } : {}),
    ...present({
      conversationId: str(item.conversationId),
      direction,
      channel,
      body: str(item.body),
      providerMessageId: str(item.providerMessageId),
      providerAccountId: str(item.providerAccountId),
      providerChatId: str(item.providerChatId),
      providerEmailId: str(item.providerEmailId),
      subject: str(item.subject),
      dedupeKey: str(item.dedupeKey),
      createdAt: str(item.createdAt),
      receivedAt: str(item.receivedAt),
      e164: str(item.e164),
      profileName: str(item.profileName),
      groupId: str(item.groupId),
      sweepAt: str(item.sweepAt),
      claimedAt: str(item.claimedAt),
      expiresAt: typeof item.expiresAt === 'number' ? item.expiresAt : undefined,
      status: str(item.status),
      statusAt: str(item.statusAt),
      replyOf: str(item.replyOf),
    }),
  };
}

/**
 * A message as the `gsi1` listing projects it (the manifest's `INBOUND_GSI1` copies only what the
 * listing shows: no `kind`, no jobs).
 */
export interface ListedMessage {
  readonly messageId: string;
  readonly direction: FiledMessage['direction'];
  readonly channel: MessageChannel;
  readonly body: string;
  readonly providerMessageId?: string;
  readonly createdAt: string;
  /** Replies only: where the send stands (`outbound.ts`). */
  readonly status?: string;
}

export function toListedMessage(item: Item): ListedMessage {
  return {
    messageId: String(item.messageId),
    direction: item.direction === 'out' ? 'out' : 'in',
    channel: toChannel(item.channel) ?? 'whatsapp',
    body: str(item.body) ?? '',
    ...present({ providerMessageId: str(item.providerMessageId), status: str(item.status) }),
    createdAt: String(item.createdAt),
  };
}

/** A message's claim: a small item (no body, no index keys, no jobs) that only says it was seen. */
export function claimItem(
  claim: Pick<FiledMessage, 'tenantId' | 'messageId'> & {
    readonly claimedAt: string;
    /** The table's TTL attribute (epoch seconds). */
    readonly expiresAt: number;
  },
): Item {
  return { ...keys.message(claim.messageId), kind: 'message', ...claim };
}

/** The filed message item: the message, its jobs, and its place in its conversation's listing. */
export function filedMessageItem(message: FiledMessage, jobs: JobsAttributes): Item {
  const { aliases: names, ...fields } = message;
  return {
    ...keys.message(message.messageId),
    kind: 'message',
    ...present(fields),
    ...(names.length > 0 ? { aliases: [...names] } : {}),
    ...jobs,
    gsi1pk: keys.conversationMessages(message.conversationId),
    gsi1sk: keys.messageSort(message.createdAt, message.messageId),
  };
}

/** Where the jobs of a message live, and how its item reads: what the jobs context is handed. */
export const messageHost: JobHostItems<MessageItem> = {
  key: keys.message,
  parse: toMessageItem,
};

/** A lead's phone index item. */
export interface LeadPhoneItem {
  readonly tenantId: string;
  readonly leadId: string;
  readonly e164: string;
}

export function leadPhoneItem(item: LeadPhoneItem): Item {
  return { ...keys.leadPhone(item.tenantId, item.e164), ...item };
}

// --- the audit's scan ------------------------------------------------------------------------------

/**
 * The items that say who a person is, as the CLI's conversations audit scans them: the live
 * (unmerged) conversations, alias links and lead phones of the table.
 */
export const personItemsScan = {
  FilterExpression: 'sk IN (:conv, :link, :lp) AND attribute_not_exists(mergedInto)',
  ExpressionAttributeValues: { ':conv': 'CONV', ':link': 'LINK', ':lp': 'LEADPHONE' },
} as const;

export type PersonItem =
  | {
      readonly kind: 'conversation';
      readonly tenantId: string;
      readonly conversationId: string;
      readonly conversationKey: string;
      readonly e164?: string;
      readonly createdAt?: string;
      readonly messageCount: number;
    }
  | {
      readonly kind: 'link';
      readonly tenantId: string;
      readonly alias: string;
      readonly e164: string;
    }
  | ({ readonly kind: 'leadPhone' } & LeadPhoneItem);

/** One item of `personItemsScan`, or undefined when it is none of the three (or incomplete). */
export function toPersonItem(item: Item): PersonItem | undefined {
  const tenantId = String(item.tenantId ?? '');
  if (item.sk === 'CONV' && typeof item.conversationKey === 'string') {
    return {
      kind: 'conversation',
      tenantId,
      conversationId: String(item.conversationId),
      conversationKey: item.conversationKey,
      ...present({ e164: str(item.e164), createdAt: str(item.createdAt) }),
      messageCount: Number(item.messageCount ?? 0),
    };
  }
  if (item.sk === 'LINK' && typeof item.e164 === 'string') {
    return { kind: 'link', tenantId, alias: String(item.alias), e164: item.e164 };
  }
  if (item.sk === 'LEADPHONE' && typeof item.leadId === 'string') {
    return { kind: 'leadPhone', tenantId, leadId: item.leadId, e164: String(item.e164) };
  }
  return undefined;
}
