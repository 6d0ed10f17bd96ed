/**
 * The campaigns context's rules: statuses and how they move, limits, the unknown-outcome policies,
 * the send queue's identities, the operator's views. Pure: no AWS, no environment. The item layout
 * and keys are in `items.ts`.
 */
import { createHash } from 'node:crypto';
import type { CampaignItem } from './items.js';

/** A stable hash of `value` into `0 … buckets-1` (shards, message groups). */
export function hashInto(value: string, buckets: number): number {
  return createHash('sha256').update(value).digest().readUInt32BE(0) % buckets;
}

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
  return `${campaignId}.${hashInto(`g|${e164}`, SEND_GROUPS)}`;
}

/** Whether a `sends` message group is one of the campaign's (`sendGroupOf`, `reringGroupOf`). */
export function isSendGroupOf(campaignId: string, group: string): boolean {
  return group.startsWith(`${campaignId}.`);
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

/** The sum of several shards' (or parts') totals. */
export function sumTotals(parts: readonly Totals[]): Totals {
  const sum = emptyTotals();
  for (const part of parts) {
    for (const field of Object.keys(sum) as Array<keyof Totals>) sum[field] += part[field];
  }
  return sum;
}

/** How far two totals are apart: the sum of absolute differences over every field. */
export function totalsDifference(a: Totals, b: Totals): number {
  return (Object.keys(a) as Array<keyof Totals>).reduce((n, k) => n + Math.abs(a[k] - b[k]), 0);
}
