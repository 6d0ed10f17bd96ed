/**
 * The campaigns context's item layout and the rules every part of it shares.
 *
 * Items in the `campaigns` table:
 * - `CAMPAIGN#<tenant>#<campaign> / META`: the campaign (name, template, phoneNumberId, status).
 *   While running or paused it sits in the sparse `sweep` index under `CAMPAIGNS#ACTIVE`, which is
 *   how the schedules find work without a scan.
 * - `CAMPAIGN#<tenant>#<campaign> / FANOUT#<generation>#<shard>`: how far fan-out got in one shard
 *   (a generation per start and per resume).
 * - `CAMPAIGN#<tenant>#<campaign> / PAGE#<generation>#<shard>#<seq>`: the mark of one fan-out page
 *   (its recipients' key range), in the `sweep` index under the shard's `RS#…#P` partition until
 *   the page is due: then recovery rings the page's recipients still pending (`PageMark`).
 * - `CR#<tenant>#<campaign>#<shard> / R#<e164>`: one recipient. Its key *is* its uniqueness item:
 *   the shard is a hash of the E.164, so one contact always lands on one item, across every page.
 *   Invalid phones kept with `skipInvalid` are `X#<hash of the input>` items with status `skipped`.
 *   A recipient waiting for a schedule (enqueued pending, sending, retry later) carries
 *   `sweepPk = RS#<tenant>#<campaign>#<shard>` and `sweepAt` (ISO time it becomes due).
 * - `CC#<tenant>#<campaign>#<shard> / COUNT#<part>`: the counters of one shard (in parts). Every transition of a
 *   recipient moves its shard's counters in the same transaction; totals are the sum of the shards.
 *   Recipients and counters are spread over `SHARDS` partition keys so a large, fast campaign has
 *   no hot partition (1,000 sends/s with ~4 counted transitions each is ~125 writes/s per shard).
 */
import { createHash } from 'node:crypto';
import { sha256Hex } from '../kernel/secrets.js';
import type { Condition } from '../kernel/update-expression.js';

export const SHARDS = 32;

/** Message groups per campaign on the sends queue: enough parallelism, ordered within a group. */
export const SEND_GROUPS = 256;

export const RECIPIENT_STATUSES = [
  'pending',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
  'unknown',
  'skipped',
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export const CAMPAIGN_STATUSES = ['draft', 'running', 'paused', 'completed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/**
 * How far along a recipient is. Statuses move forward only: a status of lower or equal rank never
 * replaces a higher one (a late `sent` after `delivered` changes nothing). `failed` and `unknown`
 * end a contact as far as sending goes, but the provider's own word outranks them: a status
 * webhook proving the message went out moves them to what it reports (see `movesForward`).
 */
export const STATUS_RANK: Readonly<Record<RecipientStatus, number>> = {
  pending: 0,
  sending: 1,
  sent: 2,
  delivered: 3,
  read: 4,
  failed: 5,
  unknown: 5,
  skipped: 5,
};

/** What happens to a send whose outcome stayed unknown past the reconciliation window. */
export const UNKNOWN_OUTCOME_POLICIES = ['hold', 'retry_once'] as const;
export type UnknownOutcomePolicy = (typeof UNKNOWN_OUTCOME_POLICIES)[number];
export const DEFAULT_UNKNOWN_OUTCOME: UnknownOutcomePolicy = 'hold';

export const MAX_RECIPIENTS_PER_REQUEST = 5000;

/**
 * The largest template a campaign takes, in UTF-8 bytes of its JSON. The template lives in the
 * campaign's META item, and a DynamoDB item is at most 400 KB (409,600 bytes, attribute names and
 * values together), so a ~450 KB template under the 1 MiB body limit used to be a 500 from the put.
 * The rest of the META item is bounded and small: pk `CAMPAIGN#<tenant ≤ 256>#<campaign ~30>` ≤ 300,
 * tenantId ≤ 256, campaignId ~30, name ≤ 200 characters (≤ 800 bytes), phoneNumberId ≤ 128, status,
 * kind, five timestamps (24 each), recipientsHeld, fanoutGeneration, sweepPk/sweepAt ~60, attribute
 * names ~200: under 3 KB. The template's DynamoDB size is not its JSON size: a map or list costs 3
 * bytes plus 1 per element and a number up to 21 bytes, so `[1,1,...]` (2 JSON bytes an element)
 * stores ~3 bytes an element: at most ~2× its JSON. 2 × 64 KiB + 3 KB ≈ 134 KB leaves the item
 * under a third of the limit, and every send reads this item (through the sender's short cache):
 * 134 KB is 33 RCU a strongly consistent read. What a template message needs is far smaller: a
 * text parameter of a body component is at most 32,768 characters when the body is the template's
 * only component, else 1,024 (Meta's rule as the whatsapp-api-js client enforces it:
 * whatsappapijs.web.app/classes/messages.BodyParameter.html), so 64 KiB holds the largest
 * legitimate one in ASCII with its name, language and buttons; a template over it is a 400.
 */
export const MAX_TEMPLATE_BYTES = 64 * 1024;
export const MAX_RECIPIENTS_PER_CAMPAIGN = 1_000_000;

function hashNumber(value: string): number {
  return createHash('sha256').update(value).digest().readUInt32BE(0);
}

export function shardOf(contactKey: string): number {
  return hashNumber(contactKey) % SHARDS;
}

export function shardLabel(shard: number): string {
  return String(shard).padStart(2, '0');
}

const CAMPAIGN_PREFIX = 'CAMPAIGN#';
const CAMPAIGN_META = 'META';

export const campaignKey = (tenantId: string, campaignId: string) => ({
  pk: `${CAMPAIGN_PREFIX}${tenantId}#${campaignId}`,
  sk: CAMPAIGN_META,
});

/**
 * The filter of a scan for every campaign's META item, every tenant's: for the ops CLI and the local
 * dashboard only (a scan reads the whole table; no request path uses it).
 */
export const campaignMetaScanFilter = {
  FilterExpression: 'sk = :meta AND begins_with(pk, :campaignPrefix)',
  ExpressionAttributeValues: { ':meta': CAMPAIGN_META, ':campaignPrefix': CAMPAIGN_PREFIX },
} as const;

export const fanoutKey = (
  tenantId: string,
  campaignId: string,
  generation: number,
  shard: number,
) => ({
  pk: `${CAMPAIGN_PREFIX}${tenantId}#${campaignId}`,
  sk: `FANOUT#${generation}#${shardLabel(shard)}`,
});

/** The mark of page `seq` of one shard's fan-out in one generation. */
export const pageMarkKey = (
  tenantId: string,
  campaignId: string,
  generation: number,
  shard: number,
  seq: number,
) => ({
  pk: `${CAMPAIGN_PREFIX}${tenantId}#${campaignId}`,
  sk: `PAGE#${generation}#${shardLabel(shard)}#${seq}`,
});

/** What every recipient partition key of a tenant starts with. */
export const tenantRecipientsPrefix = (tenantId: string) => `CR#${tenantId}#`;

export const recipientPartition = (tenantId: string, campaignId: string, shard: number) =>
  `${tenantRecipientsPrefix(tenantId)}${campaignId}#${shardLabel(shard)}`;

/** The key of a valid recipient, derived from the contact alone. */
export function recipientKey(tenantId: string, campaignId: string, e164: string) {
  return { pk: recipientPartition(tenantId, campaignId, shardOf(e164)), sk: `R#${e164}` };
}

/** The key of an invalid phone kept as `skipped`. */
export function skippedKey(tenantId: string, campaignId: string, raw: string) {
  const digest = sha256Hex(raw).slice(0, 32);
  return {
    pk: recipientPartition(tenantId, campaignId, shardOf(`X#${digest}`)),
    sk: `X#${digest}`,
  };
}

/**
 * Each shard's counters are split over `COUNTER_SPREAD` items, one picked at random per
 * transition, so concurrent transactions seldom meet on one counter item (a meeting is a
 * `TransactionConflict` and a retry).
 */
export const COUNTER_SPREAD = 3;

export const counterKey = (tenantId: string, campaignId: string, shard: number, part: number) => ({
  pk: `CC#${tenantId}#${campaignId}#${shardLabel(shard)}`,
  sk: `COUNT#${part}`,
});

export const sweepPartition = (tenantId: string, campaignId: string, shard: number) =>
  `RS#${tenantId}#${campaignId}#${shardLabel(shard)}`;

/**
 * Fan-out page marks wait in their own sweep partition per shard, so however many come due at once
 * they never crowd out the recipients' own entries (`RS#…`), and each is read with its own budget.
 */
export const pageSweepPartition = (tenantId: string, campaignId: string, shard: number) =>
  `RS#${tenantId}#${campaignId}#${shardLabel(shard)}#P`;

/**
 * Recipients claimed by a sender (`sending`) wait in their own sweep partition: recovery must find
 * them even while the campaign is paused, without reading the (possibly huge) pending backlog.
 */
export const sendingSweepPartition = (tenantId: string, campaignId: string, shard: number) =>
  `RS#${tenantId}#${campaignId}#${shardLabel(shard)}#S`;

/** Guard: the recipient is still `pending` (not claimed by a sender meanwhile). */
export const STILL_PENDING: Condition = {
  expression: '#st = :pending',
  names: { '#st': 'status' },
  values: { ':pending': 'pending' },
};

/**
 * Guard: the recipient is still `sending` and holds no wamid, so a claim may end (failed, back to
 * pending) or an accepted wamid may be kept without overwriting another.
 */
export const SENDING_WITHOUT_WAMID: Condition = {
  expression: '#st = :sending AND attribute_not_exists(#pmid)',
  names: { '#st': 'status', '#pmid': 'providerMessageId' },
  values: { ':sending': 'sending' },
};

/** The sweep partition of running campaigns. */
export const ACTIVE_CAMPAIGNS = 'CAMPAIGNS#ACTIVE';
/** Completed campaigns the counter reconciliation has not checked a last time yet. */
export const COMPLETED_CAMPAIGNS = 'CAMPAIGNS#COMPLETED';
/** Paused campaigns: recovery only settles their in-flight sends, never rings their backlog. */
export const PAUSED_CAMPAIGNS = 'CAMPAIGNS#PAUSED';

/** `gsi1` of a recipient once it has a wamid: statuses without the echo still find it. */
export const wamidIndexKey = (phoneNumberId: string, wamid: string) =>
  `WAMID#${phoneNumberId}#${wamid}`;

/**
 * `biz_opaque_callback_data`: the recipient's identity, echoed by every status webhook of the
 * message, so a send whose answer was lost is still matched to its contact.
 */
const OPAQUE_PREFIX = 'ofc1';

export function encodeCallbackData(campaignId: string, e164: string): string {
  return `${OPAQUE_PREFIX}|${campaignId}|${e164}`;
}

export function decodeCallbackData(
  value: string | undefined,
): { campaignId: string; phone: string } | undefined {
  if (!value) return undefined;
  const [prefix, campaignId, phone, ...rest] = value.split('|');
  if (prefix !== OPAQUE_PREFIX || !campaignId || !phone || rest.length > 0) return undefined;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(campaignId) || !/^\+\d{6,15}$/.test(phone)) return undefined;
  return { campaignId, phone };
}

/** The send queue's message group of a contact: a hash into `SEND_GROUPS`, never one per campaign. */
export function sendGroupOf(campaignId: string, e164: string): string {
  return `${campaignId}.${hashNumber(`g|${e164}`) % SEND_GROUPS}`;
}

/**
 * The message group of a deliberate re-ring: its own group, so it never queues behind a doorbell
 * of the same contact's group that a crashed consumer still holds invisible (FIFO delivers nothing
 * of a group while one of its messages is in flight; that timeout is real time, which the clock
 * seam does not move).
 */
export function reringGroupOf(campaignId: string, e164: string, ring: string): string {
  return `${sendGroupOf(campaignId, e164)}.${ring}`;
}

/** Deterministic queue identity of one ring of a recipient's doorbell. */
export function sendIdentity(
  tenantId: string,
  campaignId: string,
  e164: string,
  ring: string,
): string {
  return `send|${tenantId}|${campaignId}|${e164}|${ring}`;
}

export interface SendMessageBody {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly phone: string;
}

export interface FanoutMessageBody {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly generation: number;
  readonly shard: number;
}

export interface CampaignTemplate {
  readonly name: string;
  readonly language: string;
  readonly components?: readonly unknown[];
}

export interface CampaignItem {
  readonly pk: string;
  readonly sk: string;
  readonly tenantId: string;
  readonly campaignId: string;
  readonly name: string;
  readonly template: CampaignTemplate;
  readonly phoneNumberId: string;
  readonly status: CampaignStatus;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  /** Bumped by resume: fan-out of each generation rings every pending recipient once. */
  readonly fanoutGeneration?: number;
  /**
   * Recipients counted in by the page transactions that added them: the cap's counter, moved
   * conditionally in the same transactions (`<= MAX_RECIPIENTS_PER_CAMPAIGN`).
   */
  readonly recipientsHeld?: number;
}

export interface RecipientItem {
  readonly pk: string;
  readonly sk: string;
  readonly tenantId: string;
  readonly campaignId: string;
  readonly phone: string;
  readonly name?: string;
  readonly status: RecipientStatus;
  readonly attempts: number;
  readonly providerMessageId?: string;
  readonly lastError?: string;
  readonly leaseOwner?: string;
  readonly leaseExpiresAt?: number;
  readonly sendingSince?: string;
  /** How many times the doorbell was rung (fan-out is ring 0; recovery adds one each time). */
  readonly ring?: number;
  /** Retries after an unknown outcome, each recorded. */
  readonly unknownRetries?: number;
  /** Sends an operator asked for after an `unknown` outcome (`POST …/retry`). */
  readonly operatorRetries?: number;
  readonly retryAt?: string;
  readonly sweepPk?: string;
  readonly sweepAt?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * One fan-out page's mark: the pending recipients of shard `shard` after `after` (exclusive, absent
 * = from the start) up to `through` (inclusive, absent = to the end) were enqueued; due at `sweepAt`
 * (the pending horizon), when recovery rings those still pending and unmarked. One write a page
 * instead of one a recipient.
 */
export interface PageMark {
  readonly pk: string;
  readonly sk: string;
  readonly kind: 'fanout-page';
  readonly tenantId: string;
  readonly campaignId: string;
  readonly generation: number;
  readonly shard: number;
  readonly after?: string;
  readonly through?: string;
  readonly sweepPk?: string;
  readonly sweepAt?: string;
}

export type Totals = { recipients: number } & Record<RecipientStatus, number>;

export function emptyTotals(): Totals {
  return {
    recipients: 0,
    pending: 0,
    sending: 0,
    sent: 0,
    delivered: 0,
    read: 0,
    failed: 0,
    unknown: 0,
    skipped: 0,
  };
}

/** What an operator sees of a campaign (`GET /v1/campaigns/{id}` and each entry of the listing). */
export interface CampaignView {
  readonly campaignId: string;
  readonly name: string;
  readonly status: CampaignStatus;
  readonly phoneNumberId: string;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  readonly totals: Totals;
}

export function campaignView(campaign: CampaignItem, totals: Totals): CampaignView {
  return {
    campaignId: campaign.campaignId,
    name: campaign.name,
    status: campaign.status,
    phoneNumberId: campaign.phoneNumberId,
    createdAt: campaign.createdAt,
    ...(campaign.startedAt ? { startedAt: campaign.startedAt } : {}),
    ...(campaign.completedAt ? { completedAt: campaign.completedAt } : {}),
    totals,
  };
}

/** A fresh campaign id: sortable by time, unguessable. */
export function newCampaignId(nowMs: number, random: string): string {
  return `cmp_${nowMs.toString(36)}${random}`;
}
