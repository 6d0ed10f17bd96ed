/**
 * The webhooks context's keys: the only place a provider message's dedupe key, or a key of this
 * context's items, is built or parsed. The live webhooks and anything that files the same messages
 * another way (the legacy import, `inspect webhook`) take them from here (through `index.ts`), so a
 * message imported and then redelivered live is one message.
 *
 * Dedupe keys (a message's provider identity; conversations derive the message id from it):
 * - WhatsApp Cloud API: `wamid:<messages[].id>`;
 * - WhatsApp Web (Baileys via Evolution API): `wa_web:<key.id>`;
 * - Unipile messaging (LinkedIn, Instagram, Telegram, WhatsApp accounts): `unipile:<message_id>`;
 * - Unipile e-mail: `unipile_mail:mid:<RFC 5322 Message-ID without its angle brackets>` (one
 *   message whichever of a tenant's mailboxes received it), else `unipile_mail:id:<email_id>`;
 * - GoHighLevel SMS: `ghl_sms:id:<id>` when the workflow sends a provider message id, else
 *   `ghl_sms:<sha256>` over the payload's stable fields (`ghl-dedupe-key.ts`); a key trusted only
 *   for a window is that key with the window's start: `<key>:w<epoch ms>`.
 *
 * Items in the `inbound` table:
 * - `UNIPILERAW#<tenant>#<message_id> / UNIPILERAW`: a Unipile message of an account type no
 *   channel routes yet, kept raw (`unipile.ts`).
 * - `GHLWINDOW#<key> / GHLWINDOW` → `dedupeKey`, `expiresAt` (epoch seconds, also the table's TTL):
 *   the window claim of a GHL key that is only trusted for a window (`ghl-sms.ts`).
 */
import type { Item } from '../kernel/put-once.js';

/** A table key. */
export type Key = { readonly pk: string; readonly sk: string };

/**
 * The dedupe key of each provider's messages, as its live webhook builds it: the one place a
 * message's provider identity is spelled (the legacy import and `inspect webhook` use these too).
 */
export const messageKeys = {
  /** WhatsApp Cloud API: the message's `wamid` (the id always starts `wamid.`). */
  cloud: (wamid: string) => `wamid:${wamid}`,
  /** WhatsApp Web gateway: the message's `key.id`. */
  web: (keyId: string) => `wa_web:${keyId}`,
  /** Unipile messaging: the event's `message_id` (Unipile's id of the message, per account). */
  unipile: (messageId: string) => `unipile:${messageId}`,
  /**
   * Unipile e-mail: the RFC 5322 `Message-ID` (`message_id` of the mail webhook), the same in every
   * mailbox the mail reached; `<` `>` and surrounding space are not part of the id (RFC 5322 §3.6.4).
   */
  unipileMail: (rfcMessageId: string) =>
    `unipile_mail:mid:${rfcMessageId.trim().replace(/^<|>$/g, '')}`,
  /** Unipile e-mail without a `Message-ID`: Unipile's `email_id`. */
  unipileMailId: (emailId: string) => `unipile_mail:id:${emailId}`,
  /**
   * Unipile e-mail sent through the API (`origin: "unipile"`): the `tracking_id` that
   * `POST /api/v1/emails` answered, so the `mail_sent` echo of a reply is filed under the id the
   * reply recorded (and only moves it), never as a second message.
   */
  unipileSent: (trackingId: string) => `unipile_mail:sent:${trackingId}`,
  /** GoHighLevel SMS whose workflow sends a provider message id. */
  ghl: (providerMessageId: string) => `ghl_sms:id:${providerMessageId}`,
} as const;

export type MessageProvider = keyof typeof messageKeys;
export const MESSAGE_PROVIDERS = Object.keys(messageKeys) as MessageProvider[];

/** GoHighLevel keys no other source can rebuild (`ghl-dedupe-key.ts`, `ghl-sms.ts`). */
export const ghlKeys = {
  /** An SMS without a provider id: a digest of the payload's stable fields. */
  digest: (sha256: string) => `ghl_sms:${sha256}`,
  /** A key trusted only for the window that started at `startedAtMs`. */
  windowed: (key: string, startedAtMs: number) => `${key}:w${startedAtMs}`,
};

export const keys = {
  ghlWindow: (dedupeKey: string): Key => ({ pk: `GHLWINDOW#${dedupeKey}`, sk: 'GHLWINDOW' }),
  /**
   * A Unipile message of an account type no channel routes yet (MESSENGER, TWITTER, SLACK, MOBILE,
   * ...), kept under its raw id (`UNIPILERAW#<tenant>#<message_id>`), so it can be routed later.
   * One item per message: its partition is one message, never hot.
   */
  unipileRaw: (tenantId: string, messageId: string): Key => ({
    pk: `UNIPILERAW#${tenantId}#${messageId}`,
    sk: 'UNIPILERAW',
  }),
};

/** A Unipile message kept raw (`keys.unipileRaw`): what routing it later needs. */
export interface UnipileRawMessage {
  readonly tenantId: string;
  readonly accountId: string;
  readonly accountType: string;
  readonly chatId: string;
  readonly messageId: string;
  readonly event: string;
  readonly senderProviderId?: string;
  readonly body: string;
  readonly timestamp?: string;
  readonly receivedAt: string;
}

export function unipileRawItem(message: UnipileRawMessage): Item {
  return { ...keys.unipileRaw(message.tenantId, message.messageId), ...message };
}

/** The claim item of a GHL dedupe window. */
export interface GhlWindowClaim {
  readonly tenantId: string;
  /** The windowed key the messages of this window are stored under. */
  readonly dedupeKey: string;
  /** Epoch seconds; also the table's TTL attribute, so expired claims are deleted. */
  readonly expiresAt: number;
}

/** The claim's attributes (its key is `keys.ghlWindow`). */
export function ghlWindowClaimItem(claim: GhlWindowClaim): Item {
  return { ...claim };
}

export function toGhlWindowClaim(item: Item): GhlWindowClaim | undefined {
  if (typeof item.dedupeKey !== 'string' || typeof item.expiresAt !== 'number') return undefined;
  return { tenantId: String(item.tenantId), dedupeKey: item.dedupeKey, expiresAt: item.expiresAt };
}
