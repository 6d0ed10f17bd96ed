/**
 * The webhooks context's keys: the only place a provider message's dedupe key, or a key of this
 * context's items, is built or parsed. The live webhooks and anything that files the same messages
 * another way (the legacy import, `inspect webhook`) take them from here (through `index.ts`), so a
 * message imported and then redelivered live is one message.
 *
 * Dedupe keys (a message's provider identity; conversations derive the message id from it):
 * - WhatsApp Cloud API: `wamid:<messages[].id>`;
 * - WhatsApp Web (Baileys via Evolution API): `wa_web:<key.id>`;
 * - GoHighLevel SMS: `ghl_sms:id:<id>` when the workflow sends a provider message id, else
 *   `ghl_sms:<sha256>` over the payload's stable fields (`ghl-dedupe-key.ts`); a key trusted only
 *   for a window is that key with the window's start: `<key>:w<epoch ms>`.
 *
 * Items in the `inbound` table:
 * - `GHLWINDOW#<key> / GHLWINDOW` → `dedupeKey`, `expiresAt` (epoch seconds, also the table's TTL):
 *   the window claim of a GHL key that is only trusted for a window (`ghl-sms.ts`).
 */
import type { Item } from '../kernel/put-once.js';

/** A table key. */
export type Key = { readonly pk: string; readonly sk: string };

export const dedupeKeys = {
  /** A Cloud API message: its `wamid` (the live webhook and any import use this). */
  cloud: (wamid: string) => `wamid:${wamid}`,
  /** A WhatsApp Web gateway message: its `key.id` (live webhook and imports alike). */
  gateway: (keyId: string) => `wa_web:${keyId}`,
  /** A GoHighLevel SMS whose workflow sends a provider message id. */
  ghlProviderId: (id: string) => `ghl_sms:id:${id}`,
  /** A GoHighLevel SMS without one: a digest of its stable fields. */
  ghlDigest: (sha256: string) => `ghl_sms:${sha256}`,
  /** A GHL key trusted only for the window that started at `startedAtMs`. */
  ghlWindowed: (key: string, startedAtMs: number) => `${key}:w${startedAtMs}`,
};

/** The dedupe key of a WhatsApp Cloud API message. */
export const cloudMessageKey = dedupeKeys.cloud;
/** The dedupe key of a WhatsApp Web gateway message. */
export const gatewayMessageKey = dedupeKeys.gateway;

export const keys = {
  ghlWindow: (dedupeKey: string): Key => ({ pk: `GHLWINDOW#${dedupeKey}`, sk: 'GHLWINDOW' }),
};

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
