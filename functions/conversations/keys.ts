/**
 * The key schema of the conversations context in the `inbound` table, built and parsed here only.
 *
 * - `CKEY#<conversationKey> / CKEY` → `conversationId`: the uniqueness item of a conversation key
 *   (`lead:{tenant}:{leadId}`, `phone:{tenant}:{e164}`, `alias:{tenant}:{lid|bsuid}`).
 * - `CONV#<conversationId> / CONV`: the conversation (counters, display fields, `mergedInto` once
 *   merged). Listed per tenant by recency on `gsi1` under one of `LISTING_SHARDS` keys
 *   (`TCONV#<tenant>#<shard>`), so no tenant's listing is one hot partition.
 * - `CONV#<conversationId> / M#<messageId>`: the membership of a message in a conversation, written
 *   in the same transaction as the message. A merge finds the messages to move by a strongly
 *   consistent query of these (never through the eventually consistent `gsi1`).
 * - `LINK#<tenant>#<alias> / LINK` → `e164`: an alias seen beside a phone.
 * - `LEAD#<tenant>#<leadId> / LEAD` and `LEADPHONE#<tenant>#<e164> / LEADPHONE` → `leadId`.
 */
import { sha256Hex } from '../kernel/secrets.js';

export const ckey = (key: string) => ({ pk: `CKEY#${key}`, sk: 'CKEY' });
export const convKey = (conversationId: string) => ({ pk: `CONV#${conversationId}`, sk: 'CONV' });
export const MEMBER_PREFIX = 'M#';
export const memberKey = (conversationId: string, messageId: string) => ({
  pk: `CONV#${conversationId}`,
  sk: `${MEMBER_PREFIX}${messageId}`,
});
/** The message item, whose `jobs` map the jobs context keeps: one key schema, defined there. */
export { messageKey, messagePk } from '../jobs/index.js';
export const linkKey = (tenantId: string, alias: string) => ({
  pk: `LINK#${tenantId}#${alias}`,
  sk: 'LINK',
});
export const leadKey = (tenantId: string, leadId: string) => ({
  pk: `LEAD#${tenantId}#${leadId}`,
  sk: 'LEAD',
});
export const leadPhoneKey = (tenantId: string, e164: string) => ({
  pk: `LEADPHONE#${tenantId}#${e164}`,
  sk: 'LEADPHONE',
});

/**
 * Shards of a tenant's conversation listing. Every message rewrites its conversation's listing
 * sort key; with one key per tenant a tenant above ~1,000 messages/s would throttle that index
 * partition (docs/scale.md has the arithmetic).
 */
export const LISTING_SHARDS = 32;
export function listingShard(conversationId: string): number {
  return Number.parseInt(sha256Hex(conversationId).slice(0, 4), 16) % LISTING_SHARDS;
}
export const tenantListingPk = (tenantId: string, shard: number) => `TCONV#${tenantId}#${shard}`;
export const listingPkFor = (tenantId: string, conversationId: string) =>
  tenantListingPk(tenantId, listingShard(conversationId));
export const conversationMessagesPk = (conversationId: string) => `CMSG#${conversationId}`;

/** Deterministic: the same key always names the same conversation id. */
export function conversationIdFor(key: string): string {
  return `c_${sha256Hex(key).slice(0, 32)}`;
}
