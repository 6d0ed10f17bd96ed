/**
 * The campaigns context's items in the `campaigns` table: the one place their keys are built or
 * parsed, their types, and the parsers that turn a raw item into one (the store adapters,
 * `campaign-store-*.ts`, are the only readers of raw items).
 *
 * - `CAMPAIGN#<tenant>#<campaign> / META`: the campaign (name, template, phoneNumberId, status).
 *   While running, paused or just completed it sits in the sparse `sweep` index under its sweep
 *   list (`CAMPAIGNS#ACTIVE`, `…#PAUSED`, `…#COMPLETED`), which is how the schedules find work
 *   without a scan.
 * - `CAMPAIGN#<tenant>#<campaign> / FANOUT#<generation>#<shard>`: how far fan-out got in one shard
 *   (a generation per start and per resume).
 * - `CAMPAIGN#<tenant>#<campaign> / PAGE#<generation>#<shard>#<seq>`: the mark of one fan-out page
 *   (its recipients' key range), in the `sweep` index under the shard's `RS#…#P` partition until
 *   the page is due: then recovery rings the page's recipients still pending (`PageMark`).
 * - `CAMPAIGN#<tenant>#<campaign> / RESERVE#<request>`: the room one page of recipients reserved
 *   under the campaign's cap (`recipientsHeld`), once per request.
 * - `CR#<tenant>#<campaign>#<shard> / R#<e164>`: one recipient. Its key *is* its uniqueness item:
 *   the shard is a hash of the E.164, so one contact always lands on one item, across every page.
 *   Invalid phones kept with `skipInvalid` are `X#<hash of the input>` items with status `skipped`.
 *   A recipient waiting for a schedule (enqueued pending, sending, retry later) carries
 *   `sweepPk = RS#<tenant>#<campaign>#<shard>` (`…#S` while sending) and `sweepAt` (ISO time it
 *   becomes due). `gsi1` (keys only) finds it by wamid: `WAMID#<phoneNumberId>#<wamid>`.
 * - `CG#<tenant>#<campaign>#<group> / FOLD`: the counts of one fold group (`SHARDS_PER_GROUP`
 *   consecutive shards) folded from the change feed, with, per shard of the group, the last stream
 *   sequence number folded (`q<shard>`, `foldSeqKey`: base 36, zero-padded so that the condition's
 *   string order is the numbers' order). Written by the fold, one write a group a batch
 *   (`counter-fold.ts`), and by a counter repair only; totals are the sum of the groups. Put with
 *   the campaign, every shard held at `BORN_FOLD_SEQ` (`bornFoldGroupItem`).
 *   Recipients are spread over `SHARDS` partition keys so a large, fast campaign has no hot
 *   partition; their counts over `FOLD_GROUPS` items, so that a batch touching every shard is
 *   `FOLD_GROUPS` writes, not `SHARDS` (the heat: `docs/scale-campaigns.md`).
 * - `CF#<tenant>#<campaign>#<shard> / FOLD`: one shard's folded counts, as the fold wrote them
 *   before the groups (`foldSeq`, 40 digits). No longer written; read for a shard until its group
 *   item holds its `q<shard>`: the fold's first write of the shard into the group moves the
 *   shard's counts in (`campaign-store-fold.ts`), and readers add them until then. The
 *   transactional `CC#…` counter items of before the switch are no longer read or written.
 * - `CL#<tenant> / C#<createdAt>#<campaign>`: the tenant's campaign listing, written with the
 *   campaign (see `campaign-store-listing.ts` for why one partition per tenant suffices).
 */
import { itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';
import {
  CAMPAIGN_STATUSES,
  type CampaignStatus,
  type CampaignTemplate,
  emptyTotals,
  hashInto,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  type Totals,
} from './model.js';

/** Partition keys a campaign's recipients (and their folded counts) are spread over. */
export const SHARDS = 32;

/**
 * Fold groups: a campaign's folded counts are `FOLD_GROUPS` items of `SHARDS_PER_GROUP` shards each
 * (one write a group a batch of the change feed). Two keep an item under 1 KB (one write unit)
 * with a sequence number for each of its shards, and each item's writes far below a partition's
 * 1,000 WCU/s (`docs/scale-campaigns.md`).
 */
//
// `SHARDS` and `FOLD_GROUPS` are stored layout: a recipient's key holds its shard, a group item the
// counts and guards of its shards. Changing either maps shards onto other items and corrupts the
// counts unless a migration moves them (as the fold moves in the per-shard items of before).
export const FOLD_GROUPS = 2;
export const SHARDS_PER_GROUP = SHARDS / FOLD_GROUPS;

/** The fold group a shard's counts are kept in. */
export function foldGroupOf(shard: number): number {
  return Math.floor(shard / SHARDS_PER_GROUP);
}

/** The shards a fold group holds, in order. */
export function shardsOfGroup(group: number): number[] {
  return Array.from({ length: SHARDS_PER_GROUP }, (_, i) => group * SHARDS_PER_GROUP + i);
}

/** The attribute of a fold group item holding the last sequence number folded for `shard`. */
export const foldSeqAttribute = (shard: number) => `q${shardLabel(shard)}`;

/**
 * A stream sequence number as a fold group stores it: base 36, zero-padded to 26 characters, so
 * that DynamoDB's string comparison (UTF-8 bytes: `0`–`9` sort before `a`–`z`) is the numbers'
 * order. Sequence numbers are decimal strings of 21 to 40 digits (the Streams API's
 * `StreamRecord.SequenceNumber`,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html);
 * 36^26 > 10^40, and 26 characters instead of 40 keep a group's 16 of them in one write unit.
 */
export function foldSeqKey(sequenceNumber: string): string {
  if (!/^\d{1,40}$/.test(sequenceNumber)) {
    throw new RangeError('a stream sequence number is 1 to 40 decimal digits');
  }
  return BigInt(sequenceNumber).toString(36).padStart(26, '0');
}

/**
 * The sequence number a fold group is born holding for each of its shards: below every real one
 * (sequence numbers are positive), so a campaign's first fold write of a shard passes the usual
 * `q < first` guard.
 */
export const BORN_FOLD_SEQ = foldSeqKey('0');

/**
 * A fold group item as a campaign is created with it: no counts, every shard held at
 * `BORN_FOLD_SEQ`. A campaign created so has no per-shard items of before the groups, and this says
 * so where readers and the fold look: they never read or move in old items for its shards (a campaign
 * created before this has group items that hold only the shards moved in, or none).
 */
export function bornFoldGroupItem(tenantId: string, campaignId: string, group: number): Item {
  return {
    ...keys.foldedGroup(tenantId, campaignId, group),
    ...Object.fromEntries(shardsOfGroup(group).map((s) => [foldSeqAttribute(s), BORN_FOLD_SEQ])),
  };
}

/** The shard of a contact (its E.164) or of a skipped input (its `X#` id). */
export function shardOf(contactKey: string): number {
  return hashInto(contactKey, SHARDS);
}

const shardLabel = (shard: number) => String(shard).padStart(2, '0');

/** The sweep lists campaigns wait in: the schedules' way to find them without a scan. */
export type SweepList = 'active' | 'paused' | 'completed';

const SWEEP_LISTS: Readonly<Record<SweepList, string>> = {
  active: 'CAMPAIGNS#ACTIVE',
  paused: 'CAMPAIGNS#PAUSED',
  completed: 'CAMPAIGNS#COMPLETED',
};

/** The id of an invalid phone kept as `skipped`: a hash of what the operator wrote. */
const skippedId = (raw: string) => `X#${sha256Hex(raw).slice(0, 32)}`;

const campaignPk = (tenantId: string, campaignId: string) => `CAMPAIGN#${tenantId}#${campaignId}`;
const recipientPartition = (tenantId: string, campaignId: string, shard: number) =>
  `CR#${tenantId}#${campaignId}#${shardLabel(shard)}`;
const sweepPartition = (tenantId: string, campaignId: string, shard: number) =>
  `RS#${tenantId}#${campaignId}#${shardLabel(shard)}`;

export const keys = {
  campaign: (tenantId: string, campaignId: string) => ({
    pk: campaignPk(tenantId, campaignId),
    sk: 'META',
  }),
  /** What a scan of every campaign item matches (operators' tools only, never a request path). */
  campaignScan: { sk: 'META', pkPrefix: 'CAMPAIGN#' },
  fanout: (tenantId: string, campaignId: string, generation: number, shard: number) => ({
    pk: campaignPk(tenantId, campaignId),
    sk: `FANOUT#${generation}#${shardLabel(shard)}`,
  }),
  /** The sort-key prefix of one generation's fan-out progress items. */
  fanoutGeneration: (tenantId: string, campaignId: string, generation: number) => ({
    pk: campaignPk(tenantId, campaignId),
    skPrefix: `FANOUT#${generation}#`,
  }),
  /** The mark of page `seq` of one shard's fan-out in one generation. */
  pageMark: (
    tenantId: string,
    campaignId: string,
    generation: number,
    shard: number,
    seq: number,
  ) => ({
    pk: campaignPk(tenantId, campaignId),
    sk: `PAGE#${generation}#${shardLabel(shard)}#${seq}`,
  }),
  reservation: (tenantId: string, campaignId: string, reservation: string) => ({
    pk: campaignPk(tenantId, campaignId),
    sk: `RESERVE#${reservation}`,
  }),
  recipientPartition,
  /** The key of a valid recipient, derived from the contact alone. */
  recipient: (tenantId: string, campaignId: string, e164: string) => ({
    pk: recipientPartition(tenantId, campaignId, shardOf(e164)),
    sk: `R#${e164}`,
  }),
  /** The key of an invalid phone kept as `skipped`. */
  skipped: (tenantId: string, campaignId: string, raw: string) => {
    const id = skippedId(raw);
    return { pk: recipientPartition(tenantId, campaignId, shardOf(id)), sk: id };
  },
  /**
   * The counts of one fold group folded from the change feed (`counter-fold.ts`), with the sequence
   * number of the last stream record folded for each of its shards: written by the fold and repair.
   */
  foldedGroup: (tenantId: string, campaignId: string, group: number) => ({
    pk: `CG#${tenantId}#${campaignId}#${group}`,
    sk: 'FOLD',
  }),
  /**
   * One shard's folded counts as the fold wrote them before the groups: read only, until the
   * shard's group holds it (`campaign-store-fold.ts`).
   */
  foldedCounter: (tenantId: string, campaignId: string, shard: number) => ({
    pk: `CF#${tenantId}#${campaignId}#${shardLabel(shard)}`,
    sk: 'FOLD',
  }),
  /** A shard's sweep partition of pending recipients waiting for a schedule. */
  pendingSweep: sweepPartition,
  /**
   * Recipients claimed by a sender (`sending`) wait in their own sweep partition: recovery must find
   * them even while the campaign is paused, without reading the (possibly huge) pending backlog.
   */
  sendingSweep: (tenantId: string, campaignId: string, shard: number) =>
    `${sweepPartition(tenantId, campaignId, shard)}#S`,
  /**
   * Fan-out page marks wait in their own sweep partition per shard, so however many come due at
   * once they never crowd out the recipients' own entries, and each is read with its own budget.
   */
  pageSweep: (tenantId: string, campaignId: string, shard: number) =>
    `${sweepPartition(tenantId, campaignId, shard)}#P`,
  sweepList: (list: SweepList) => SWEEP_LISTS[list],
  listingPartition: (tenantId: string) => `CL#${tenantId}`,
  listing: (tenantId: string, createdAt: string, campaignId: string) => ({
    pk: `CL#${tenantId}`,
    sk: `C#${createdAt}#${campaignId}`,
  }),
  /** `gsi1` of a recipient once it has a wamid: statuses without the echo still find it. */
  wamidIndex: (phoneNumberId: string, wamid: string) => `WAMID#${phoneNumberId}#${wamid}`,
};

/** The shard of a skipped input (the shard its item lands on). */
export const shardOfSkipped = (raw: string) => shardOf(skippedId(raw));

/** True when a recipient key (e.g. from the keys-only wamid index) belongs to the tenant. */
export function isRecipientOf(pk: unknown, tenantId: string): boolean {
  return typeof pk === 'string' && pk.startsWith(`CR#${tenantId}#`);
}

// --- item types ----------------------------------------------------------------------------------

export interface CampaignItem {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly name: string;
  readonly template: CampaignTemplate;
  readonly phoneNumberId: string;
  readonly status: CampaignStatus;
  readonly createdAt: string;
  readonly updatedAt?: string;
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

/** One recipient (a contact, or an invalid phone kept as `skipped`). */
export interface RecipientItem {
  readonly tenantId: string;
  readonly campaignId: string;
  /** E.164 (as the operator wrote it for a skipped one). */
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
  /** When a schedule looks at it next (it waits in a sweep partition), if it does. */
  readonly sweepAt?: string;
  /** The request (hashed Idempotency-Key) that added it. */
  readonly addedBy?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One shard of one campaign: what names its recipient, counter and sweep partitions. */
export interface CampaignShard {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly shard: number;
}

/** One fold group of one campaign: what names its folded counts item. */
export interface CampaignFoldGroup {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly group: number;
}

/** One shard of one fan-out generation: what names its progress item (and its queue message). */
export interface FanoutShard extends CampaignShard {
  readonly generation: number;
}

/** Who a recipient is: what names its item. */
export type RecipientRef = Pick<RecipientItem, 'tenantId' | 'campaignId' | 'phone'>;

/**
 * One fan-out page's mark: the pending recipients of shard `shard` after `after` (exclusive, absent
 * = from the start) up to `through` (inclusive, absent = to the end) were enqueued; due at `sweepAt`
 * (the pending horizon), when recovery rings those still pending and unmarked. One write a page
 * instead of one a recipient. `after` and `through` are positions in the shard (opaque).
 */
export interface PageMark {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly generation: number;
  readonly shard: number;
  readonly seq: number;
  readonly after?: string;
  readonly through?: string;
  readonly sweepAt?: string;
}

/** How far one shard's fan-out got in one generation. */
export interface FanoutProgress {
  /** The position after the last page enqueued (opaque). */
  readonly cursor?: string;
  readonly done?: boolean;
  readonly seq?: number;
  readonly enqueued?: number;
  readonly updatedAt?: string;
}

// --- parsers (raw item → typed item) -------------------------------------------------------------

/** The last `#` part of a key (a shard's label, a page's number): what only the key holds. */
function lastKeyPart(key: string): number {
  return Number(key.slice(key.lastIndexOf('#') + 1));
}

export function parseCampaign(raw: Item): CampaignItem {
  const read = itemReader(raw, 'campaign');
  const template = itemReader(read.map('template'), 'campaign template');
  const components = template.optionalList('components');
  return {
    tenantId: read.string('tenantId'),
    campaignId: read.string('campaignId'),
    name: read.string('name'),
    template: {
      name: template.string('name'),
      language: template.string('language'),
      ...(components ? { components } : {}),
    },
    phoneNumberId: read.string('phoneNumberId'),
    status: read.oneOf('status', CAMPAIGN_STATUSES),
    createdAt: read.string('createdAt'),
    ...withoutAbsent({
      updatedAt: read.optionalString('updatedAt'),
      startedAt: read.optionalString('startedAt'),
      completedAt: read.optionalString('completedAt'),
      fanoutGeneration: read.optionalNumber('fanoutGeneration'),
      recipientsHeld: read.optionalNumber('recipientsHeld'),
    }),
  };
}

export function parseRecipient(raw: Item): RecipientItem {
  const read = itemReader(raw, 'recipient');
  return {
    tenantId: read.string('tenantId'),
    campaignId: read.string('campaignId'),
    phone: read.string('phone'),
    status: read.oneOf('status', RECIPIENT_STATUSES),
    attempts: read.numberOr('attempts', 0),
    createdAt: read.string('createdAt'),
    updatedAt: read.string('updatedAt'),
    ...withoutAbsent({
      name: read.optionalString('name'),
      providerMessageId: read.optionalString('providerMessageId'),
      lastError: read.optionalString('lastError'),
      leaseOwner: read.optionalString('leaseOwner'),
      sendingSince: read.optionalString('sendingSince'),
      retryAt: read.optionalString('retryAt'),
      sweepAt: read.optionalString('sweepAt'),
      addedBy: read.optionalString('addedBy'),
      leaseExpiresAt: read.optionalNumber('leaseExpiresAt'),
      ring: read.optionalNumber('ring'),
      unknownRetries: read.optionalNumber('unknownRetries'),
      operatorRetries: read.optionalNumber('operatorRetries'),
    }),
  };
}

export function parsePageMark(raw: Item): PageMark {
  const read = itemReader(raw, 'fan-out page mark');
  return {
    tenantId: read.string('tenantId'),
    campaignId: read.string('campaignId'),
    generation: read.number('generation'),
    shard: read.number('shard'),
    // `PAGE#<generation>#<shard>#<seq>`: the page's number is only in its key.
    seq: lastKeyPart(read.string('sk')),
    ...withoutAbsent({
      after: read.optionalString('after'),
      through: read.optionalString('through'),
      sweepAt: read.optionalString('sweepAt'),
    }),
  };
}

/** A fan-out progress item, with the shard its key names. */
export function parseFanoutProgress(raw: Item): { shard: number; progress: FanoutProgress } {
  const read = itemReader(raw, 'fan-out progress');
  return {
    // `FANOUT#<generation>#<shard>`: the shard it tracks.
    shard: lastKeyPart(read.string('sk')),
    progress: withoutAbsent({
      cursor: read.optionalString('cursor'),
      updatedAt: read.optionalString('updatedAt'),
      seq: read.optionalNumber('seq'),
      enqueued: read.optionalNumber('enqueued'),
      done: read.optionalBoolean('done'),
    }),
  };
}

const COUNTED = ['recipients', ...RECIPIENT_STATUSES] as const;

/** A shard's folded counter item of before the groups: its counts and last sequence number. */
export function parseFoldedCounter(raw: Item): { shard: number; totals: Totals; foldSeq?: string } {
  const read = itemReader(raw, 'folded counter');
  const totals = emptyTotals();
  for (const field of COUNTED) totals[field] = read.numberOr(field, 0);
  return {
    // `CF#<tenant>#<campaign>#<shard>`: the shard it counts.
    shard: lastKeyPart(read.string('pk')),
    totals,
    ...withoutAbsent({ foldSeq: read.optionalString('foldSeq') }),
  };
}

/** A fold group item: its counts, and the last sequence number folded for each shard it holds. */
export interface FoldedGroupItem {
  readonly group: number;
  readonly totals: Totals;
  /** Shard → `foldSeqKey` of its last record folded; a shard absent here was never moved in. */
  readonly seqs: ReadonlyMap<number, string>;
}

export function parseFoldedGroup(raw: Item): FoldedGroupItem {
  const read = itemReader(raw, 'folded group');
  const totals = emptyTotals();
  for (const field of COUNTED) totals[field] = read.numberOr(field, 0);
  // `CG#<tenant>#<campaign>#<group>`: the group it counts.
  const group = lastKeyPart(read.string('pk'));
  const seqs = new Map<number, string>();
  for (const shard of shardsOfGroup(group)) {
    const seq = read.optionalString(foldSeqAttribute(shard));
    if (seq !== undefined) seqs.set(shard, seq);
  }
  return { group, totals, seqs };
}

/** What a recipient's image counts as: its shard and status (undefined: not a recipient). */
export interface CountedImage {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly shard: number;
  readonly status: RecipientStatus;
}

/**
 * A stream image read as what it counts: a recipient (`CR#…` with `kind: recipient`) → its shard
 * and status; any other item of the table (campaign, counters, marks, folded counts) → undefined.
 * A recipient image that does not read throws (`MalformedItemError`, names the attribute only).
 */
export function countedImage(raw: Item | undefined): CountedImage | undefined {
  if (raw?.kind !== 'recipient') return undefined;
  const pk = raw.pk;
  if (typeof pk !== 'string' || !pk.startsWith('CR#')) return undefined;
  const read = itemReader(raw, 'recipient');
  return {
    tenantId: read.string('tenantId'),
    campaignId: read.string('campaignId'),
    // `CR#<tenant>#<campaign>#<shard>`: the shard it lands on.
    shard: lastKeyPart(pk),
    status: read.oneOf('status', RECIPIENT_STATUSES),
  };
}

/** The campaign a listing item names. */
export function parseListing(raw: Item): { campaignId: string } {
  return { campaignId: itemReader(raw, 'campaign listing').string('campaignId') };
}
