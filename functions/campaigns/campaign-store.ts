/**
 * The campaigns store: the port every campaign domain module takes (never `{ddb, table}`), split by
 * concern, and `dynamoCampaignStore`, its DynamoDB adapter on the `campaigns` table (one file per
 * concern: `campaign-store-<concern>.ts`). Everything crosses it as typed items (`items.ts`); keys,
 * expressions and transactions stay below it.
 *
 * Every move it makes is one conditional write (or one transaction where a move spans items: a
 * page of recipients with the campaign's draft check, the campaign with its listing item): a method
 * answers whether its guard held, never reads and then writes. No move writes a counter: the
 * counts are folded from the table's change feed (`counter-fold.ts`).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../kernel/clock.js';
import { NotFoundError } from '../kernel/errors.js';
import type { MalformedItemError } from '../kernel/item-reader.js';
import { DynamoCampaignCounters } from './campaign-store-counters.js';
import { DynamoFanoutRecords } from './campaign-store-fanout.js';
import { DynamoFoldedCounters } from './campaign-store-fold.js';
import { DynamoCampaignRecords } from './campaign-store-lifecycle.js';
import { DynamoCampaignListing } from './campaign-store-listing.js';
import { DynamoRecipientPages } from './campaign-store-pages.js';
import { DynamoRecipientRecords } from './campaign-store-recipients.js';
import type { FoldedCounters } from './counter-fold.js';
import type {
  CampaignItem,
  CampaignShard,
  FanoutProgress,
  FanoutShard,
  FoldedGroupItem,
  PageMark,
  RecipientItem,
  RecipientRef,
  SweepList,
} from './items.js';
import type { CampaignStatus, RecipientStatus, Totals } from './model.js';

export interface CampaignStore {
  /** The campaign item's lifecycle: create, the cap's reservations, status moves, sweep lists. */
  readonly campaigns: CampaignRecords;
  /** Pages of recipients: added, listed, read for fan-out and completion. */
  readonly pages: RecipientPages;
  /** One recipient's moves (each one conditional write) and the sweeps that find them. */
  readonly recipients: RecipientRecords;
  /** Fan-out's progress per shard and its page marks. */
  readonly fanout: FanoutRecords;
  /** A tenant's campaigns, newest first. */
  readonly listing: CampaignListing;
  /** The folded counts read as totals, recounted, repaired. */
  readonly counters: CampaignCounters;
  /** The shards' counts folded from the change feed into fold groups, once per stream record. */
  readonly folded: FoldedCounters;
}

/** What every campaign domain module works with: the store and the clock. */
export interface CampaignDeps {
  readonly store: CampaignStore;
  readonly clock: Clock;
}

/** The campaign, or the contract's 404. */
export async function requireCampaign(
  deps: Pick<CampaignDeps, 'store'>,
  tenantId: string,
  campaignId: string,
): Promise<CampaignItem> {
  const campaign = await deps.store.campaigns.get(tenantId, campaignId);
  if (!campaign) throw new NotFoundError(`Campaign ${campaignId} does not exist.`);
  return campaign;
}

/** The store of one deployment's `campaigns` table. */
export function dynamoCampaignStore(ddb: DynamoDBDocumentClient, table: string): CampaignStore {
  const folded = new DynamoFoldedCounters(ddb, table);
  return {
    campaigns: new DynamoCampaignRecords(ddb, table),
    pages: new DynamoRecipientPages(ddb, table),
    recipients: new DynamoRecipientRecords(ddb, table),
    fanout: new DynamoFanoutRecords(ddb, table),
    listing: new DynamoCampaignListing(ddb, table),
    counters: new DynamoCampaignCounters(ddb, table, folded),
    folded,
  };
}

// --- lifecycle -----------------------------------------------------------------------------------

export type CreateResult =
  | { readonly created: true }
  /** The id is taken: by this very campaign (a retried create) when `existing` is a draft. */
  | { readonly created: false; readonly existing?: CampaignItem };

export type ReserveResult =
  | { readonly reserved: true }
  /** This request reserved its room before (a retry of the same page). */
  | { readonly reserved: false; readonly reason: 'already' }
  | { readonly reserved: false; readonly reason: 'not-draft' }
  | { readonly reserved: false; readonly reason: 'full'; readonly held: number };

/** A campaign's status move and what goes with it. */
export interface CampaignMove {
  readonly from: CampaignStatus;
  readonly to: CampaignStatus;
  /** The move's time (`updatedAt`). */
  readonly at: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  /** Takes the completion time away (a completed campaign reopened). */
  readonly reopened?: boolean;
  readonly fanoutGeneration?: number;
  /** The sweep list the campaign waits in from now on, due at `at` (kept when absent). */
  readonly sweep?: { readonly list: SweepList; readonly at?: string };
}

export interface CampaignRecords {
  get(
    tenantId: string,
    campaignId: string,
    options?: { readonly consistent?: boolean },
  ): Promise<CampaignItem | undefined>;
  /** The campaigns of `campaignIds` that exist, by id (strongly consistent batch reads). */
  getMany(tenantId: string, campaignIds: readonly string[]): Promise<Map<string, CampaignItem>>;
  /**
   * The draft campaign, its listing item and its two fold groups (born holding every shard) in one
   * transaction: it exists exactly when listed, and its counts are never looked for elsewhere.
   */
  create(campaign: CampaignItem): Promise<CreateResult>;
  /**
   * Room for `incoming` recipients under the cap, for the whole page at once: the campaign's
   * `recipientsHeld` moves by `incoming` only if it stays within `cap` and the campaign is a
   * draft, with a reservation item named after the request, in one transaction.
   */
  reserve(
    tenantId: string,
    campaignId: string,
    reservation: {
      readonly id: string;
      readonly incoming: number;
      readonly cap: number;
      readonly at: string;
    },
  ): Promise<ReserveResult>;
  /** Gives back the room a reservation did not use, once per reservation. */
  settle(
    tenantId: string,
    campaignId: string,
    reservationId: string,
    unused: number,
  ): Promise<void>;
  /** The lifecycle's one guarded write; false when the campaign was not `from`. */
  move(tenantId: string, campaignId: string, move: CampaignMove): Promise<boolean>;
  /** A completed campaign leaves its sweep list (unless it moved meanwhile). */
  leaveSweep(tenantId: string, campaignId: string): Promise<void>;
  /**
   * The campaigns waiting in a sweep list (the sparse index: may be a moment stale). An entry too
   * malformed to read is skipped and handed back as its error, so one bad campaign costs only
   * itself: the sweeps count it and go on with the others.
   */
  inSweep(list: SweepList): Promise<SweepListing>;
  /** Every campaign of the table: operators' tools only (a scan), never a request path. */
  scan(): AsyncIterable<CampaignItem>;
}

/** A sweep list as read: the campaigns, and the errors of the entries that could not be read. */
export interface SweepListing {
  readonly campaigns: readonly CampaignItem[];
  /** One per unreadable entry; the message names the attribute, never its value. */
  readonly unreadable: readonly MalformedItemError[];
}

// --- recipient pages -----------------------------------------------------------------------------

export type InsertResult =
  | { readonly inserted: true }
  | { readonly inserted: false; readonly reason: 'not-draft' }
  /** Some recipients exist already: by their position in the chunk, each as it stands. */
  | {
      readonly inserted: false;
      readonly reason: 'taken';
      readonly taken: ReadonlyMap<number, RecipientItem | undefined>;
    };

/** A recipient to add: a contact (`pending`) or an invalid phone kept as `skipped`. */
export type NewRecipient = RecipientItem & { readonly status: 'pending' | 'skipped' };

export interface RecipientPage {
  readonly recipients: RecipientItem[];
  readonly nextCursor: string | null;
}

export interface RecipientPages {
  /**
   * One transaction: the campaign still a draft + each recipient put only if new (at most
   * `MAX_INSERT` of one shard). The fold counts them from their stream records.
   */
  insert(
    tenantId: string,
    campaignId: string,
    recipients: readonly NewRecipient[],
  ): Promise<InsertResult>;
  /**
   * Recipients shard by shard (strongly consistent: the folded totals equal it once the feed is
   * folded), from an opaque cursor; a foreign or forged cursor is a 400.
   */
  list(
    tenantId: string,
    campaignId: string,
    options: {
      readonly status?: RecipientStatus | undefined;
      readonly cursor?: string | undefined;
      readonly limit: number;
    },
  ): Promise<RecipientPage>;
  /** One page of a shard's pending recipients after position `after` (fan-out). */
  pendingPage(
    tenantId: string,
    campaignId: string,
    shard: number,
    after: string | undefined,
    limit: number,
  ): Promise<{ readonly recipients: RecipientItem[]; readonly last?: string }>;
  /**
   * The recipients of a page mark's range still pending and with no sweep entry of their own
   * (strongly consistent, from the base table).
   */
  pendingOfMark(mark: PageMark): Promise<RecipientItem[]>;
  /** True when some recipient is still `pending` or `sending` (strongly consistent reads). */
  anyInFlight(tenantId: string, campaignId: string): Promise<boolean>;
}

// --- one recipient -------------------------------------------------------------------------------

/** A sender's claim of a recipient: pending → sending with its lease and one more attempt. */
export interface Claim {
  readonly owner: string;
  readonly leaseSeconds: number;
  /** The claim's instant (epoch ms): the lease runs from it. */
  readonly now: number;
  /** The attempts the sender read: a claim decided on a stale read loses. */
  readonly attemptsSeen: number;
  /** When the claimed recipient is due for recovery's look (the reconciliation window). */
  readonly dueAt: string;
}

/** How a claim ends without a wamid: `failed`, or back to `pending` (due again at `dueAt`). */
export type ClaimEnd =
  | { readonly to: 'failed'; readonly lastError: string; readonly at: string }
  | {
      readonly to: 'pending';
      readonly lastError: string;
      readonly at: string;
      readonly dueAt: string;
      readonly retryAt?: string;
    };

/** A wamid the provider gave for a recipient's message. */
export interface AcceptedWamid {
  readonly phoneNumberId: string;
  readonly wamid: string;
  readonly at: string;
}

/** A provider status moving a recipient (from its status as read) to `to`. */
export interface StatusMove extends AcceptedWamid {
  readonly to: 'sent' | 'delivered' | 'read' | 'failed';
  readonly statusAt: string;
  /** Why it failed (a `failed` status only). */
  readonly lastError?: string;
}

/** Recovery's end of a send whose outcome stayed unknown past the window. */
export type UnknownEnd =
  | {
      readonly to: 'unknown';
      readonly lastError: string;
      readonly at: string;
      readonly now: number;
    }
  | {
      readonly to: 'pending';
      readonly lastError: string;
      readonly at: string;
      readonly now: number;
      readonly unknownRetries: number;
    };

export interface RecipientRecords {
  get(ref: RecipientRef): Promise<RecipientItem | undefined>;
  /** The tenant's recipient whose message has this wamid (the keys-only `gsi1`, then the item). */
  findByWamid(
    tenantId: string,
    phoneNumberId: string,
    wamid: string,
  ): Promise<RecipientItem | undefined>;
  /** The claim (one conditional write); false when someone else claimed (or moved) it. */
  claim(ref: RecipientRef, claim: Claim): Promise<boolean>;
  /**
   * sending → sent with the wamid (one conditional write); false when it was not `sending`
   * without a wamid. An error (throttling that outlasts the SDK's retries) is thrown: the caller
   * keeps the wamid by `keepWamid`.
   */
  storeWamid(ref: RecipientRef, accepted: AcceptedWamid): Promise<boolean>;
  /** The wamid on a recipient still `sending` without one, status untouched, due at once. */
  keepWamid(ref: RecipientRef, accepted: AcceptedWamid): Promise<void>;
  /** Ends a claim this owner holds on a recipient still `sending` without a wamid. */
  endClaim(ref: RecipientRef, owner: string, end: ClaimEnd): Promise<boolean>;
  /** A provider status, from `current.status` (and no other wamid) to `move.to`. */
  applyStatus(current: RecipientItem, move: StatusMove): Promise<boolean>;
  /** `sending` with the wamid `current` holds → `sent` (recovery finishing a kept wamid). */
  completeKeptWamid(current: RecipientItem, at: string): Promise<boolean>;
  /**
   * An unknown outcome held (`unknown`) or released for one more attempt (`pending`, due at once),
   * only if the send is still the one `current` shows (no wamid, same `sendingSince`, lease expired).
   */
  endUnknown(current: RecipientItem, end: UnknownEnd): Promise<boolean>;
  /**
   * An operator's retry: unknown → pending with `operatorRetries` (only if it still holds one less),
   * due for recovery's look at `dueAt`.
   */
  retryUnknown(
    ref: RecipientRef,
    retry: {
      readonly operatorRetries: number;
      readonly lastError: string;
      readonly at: string;
      readonly dueAt: string;
    },
  ): Promise<boolean>;
  /**
   * Records a ring (ring + 1) and the next look at `nextSweepAt`, if the recipient is still pending
   * and nobody rang or moved it since it was seen (`ring`, `sweepAt`).
   */
  markRung(
    ref: RecipientRef,
    seen: { readonly ring: number; readonly sweepAt: string | undefined },
    nextSweepAt: string,
  ): Promise<boolean>;
  /** Takes a recipient that needs no schedule any more out of the sweep (unless it moved). */
  tidy(current: RecipientItem): Promise<void>;
  /**
   * A shard's recipients due by `cutoff` in one sweep partition (`sending`: claimed; `pending`:
   * released, rung or waiting to retry), at most `budget`.
   */
  due(
    at: CampaignShard,
    which: 'sending' | 'pending',
    cutoff: string,
    budget: number,
  ): AsyncIterable<RecipientItem>;
}

// --- fan-out -------------------------------------------------------------------------------------

export interface FanoutRecords {
  /** Every shard's progress in one generation. */
  progress(
    tenantId: string,
    campaignId: string,
    generation: number,
  ): Promise<Map<number, FanoutProgress>>;
  shardProgress(at: FanoutShard): Promise<FanoutProgress | undefined>;
  /** Saves a shard's progress only if nobody saved a newer one since `previousSeq` was read. */
  saveProgress(
    at: FanoutShard,
    previousSeq: number | undefined,
    next: FanoutProgress,
  ): Promise<boolean>;
  /** Marks a page as enqueued (an upsert: a repeated page writes the same mark again). */
  markPage(mark: PageMark, expiresAtSeconds: number): Promise<void>;
  /** A shard's page marks due by `cutoff`, at most `budget`. */
  duePageMarks(at: CampaignShard, cutoff: string, budget: number): AsyncIterable<PageMark>;
  /** Takes a page mark out of the sweep, unless the fan-out marked the page again meanwhile. */
  leaveSweep(mark: PageMark): Promise<void>;
}

// --- listing -------------------------------------------------------------------------------------

export interface CampaignListing {
  /** A page of the tenant's campaign ids, newest first; a cursor of another listing is a 400. */
  page(
    tenantId: string,
    options: { readonly cursor?: string | undefined; readonly limit: number },
  ): Promise<{ readonly campaignIds: string[]; readonly nextCursor: string | null }>;
  /** Every campaign of the tenant (operators' tools). */
  campaignsOf(tenantId: string): AsyncIterable<{ tenantId: string; campaignId: string }>;
  /**
   * `sending` contacts claimed before `cutoff` that hold no wamid: waiting for evidence. Read from
   * the sparse sweep index (eventually consistent): a display figure, nothing decides on it.
   */
  awaitingEvidence(tenantId: string, campaignId: string, cutoff: string): Promise<number>;
}

// --- counters ------------------------------------------------------------------------------------

export interface CampaignCounters {
  /**
   * Each fold group's counts folded from the change feed (index = group; a group never folded
   * reads 0). They trail the transitions by the fold's lag: see `campaign-store-counters.ts`.
   */
  groups(tenantId: string, campaignId: string): Promise<Totals[]>;
  /** The campaign's totals: the sum of its groups' folded counts. */
  totals(tenantId: string, campaignId: string): Promise<Totals>;
  /** One fold group's folded counts as they stand, with its shards' sequence numbers (consistent). */
  group(tenantId: string, campaignId: string, group: number): Promise<FoldedGroup>;
  /**
   * A fold group's recipients (its shards') counted by status (strongly consistent queries), with
   * the newest `updatedAt` among them: how recently the group was written.
   */
  recount(tenantId: string, campaignId: string, group: number): Promise<ShardRecount>;
  /**
   * Sets a fold group's counts to `next`, only if the fold has not written the group since `seen`
   * was read; false when it has.
   */
  setGroup(
    tenantId: string,
    campaignId: string,
    group: number,
    seen: FoldedGroup,
    next: Totals,
  ): Promise<boolean>;
}

/** One fold group's folded counts as read. */
export interface FoldedGroup {
  /** What readers count for the group: its item's counts, plus old per-shard counts not moved in. */
  readonly totals: Totals;
  /** The group's item as read; absent: never written by the fold or a repair. */
  readonly item?: FoldedGroupItem;
  /** The `foldSeqKey` of each old per-shard item of a shard not moved in yet. */
  readonly oldSeqs: ReadonlyMap<number, string>;
}

/** A shard's recipients counted. */
export interface ShardRecount {
  readonly totals: Totals;
  /** The newest `updatedAt` of its recipients (absent: none). */
  readonly lastWrittenAt?: string;
}
