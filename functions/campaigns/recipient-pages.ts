/**
 * Pages of recipients: added while the campaign is a draft (the first with the create), and listed.
 *
 * Uniqueness by E.164 is a conditional put of the recipient item itself (its key derives from the
 * contact), in the same transaction as a check that the campaign is still a draft, so a contact
 * never lands twice, whatever page it comes in, and never after the start. Each put is counted by
 * the fold from its stream record (`counter-fold.ts`), once. The cap holds for the whole page at
 * once: its room is reserved before the first put.
 */
import { randomBytes } from 'node:crypto';
import { isoTime } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { ConflictError, InvalidRequestError } from '../kernel/errors.js';
import { failpoint } from '../kernel/failpoints.js';
import type { Tenant } from '../tenants/index.js';
import { type CampaignDeps, type NewRecipient, requireCampaign } from './campaign-store.js';
import { FP_RECIPIENTS_AFTER_CHUNK } from './failpoints.js';
import { type RecipientItem, SHARDS, shardOf, shardOfSkipped } from './items.js';
import { MAX_RECIPIENTS_PER_CAMPAIGN, type RecipientStatus } from './model.js';
import {
  type Contact,
  invalidPhoneDetails,
  normalizeRecipients,
  type RecipientInput,
} from './recipient-input.js';

export interface PageResult {
  /** Contacts this request added. */
  readonly recipients: number;
  /** Entries that were a contact already in this page or the campaign. */
  readonly duplicatesCollapsed: number;
  /** Invalid phones kept as `skipped` (only with `skipInvalid`). */
  readonly skipped: number;
}

type NormalizedPage = ReturnType<typeof normalizeRecipients>;

/** The page's contacts, or the contract's 400 for its invalid phones (unless `skipInvalid`). */
export function validatePage(
  tenant: Tenant,
  recipients: readonly RecipientInput[],
  skipInvalid: boolean,
): NormalizedPage {
  const page = normalizeRecipients(recipients, tenant.defaultCountry);
  if (page.invalid.length > 0 && !skipInvalid) {
    throw new InvalidRequestError(
      `${page.invalid.length} recipient phone number(s) are not valid; fix them or set skipInvalid.`,
      invalidPhoneDetails(page.invalid, tenant.defaultCountry),
    );
  }
  return page;
}

export async function addRecipients(
  deps: CampaignDeps,
  tenant: Tenant,
  campaignId: string,
  recipients: readonly RecipientInput[],
  skipInvalid: boolean,
  addedBy?: string,
): Promise<PageResult> {
  const campaign = await requireCampaign(deps, tenant.tenantId, campaignId);
  if (campaign.status !== 'draft') {
    throw new ConflictError('Recipients can only be added while the campaign is a draft.');
  }
  const page = validatePage(tenant, recipients, skipInvalid);
  return insertPage(deps, tenant.tenantId, campaignId, page, addedBy);
}

interface PendingPut {
  readonly shard: number;
  readonly recipient: NewRecipient;
}

/**
 * Puts per transaction: 100 minus the campaign check. A chunk holds one shard's recipients (a
 * shard's puts then land on one partition key, as its stream records do).
 */
const PUTS_PER_TRANSACTION = 99;
/** Chunks in flight at once: each also checks the campaign item, so keep it small. */
const PAGE_CONCURRENCY = 4;

/** The 400 for a page that would take the campaign past its cap. */
function capExceeded(held: number): InvalidRequestError {
  return new InvalidRequestError(
    `A campaign holds at most ${MAX_RECIPIENTS_PER_CAMPAIGN} recipients; it has ${held}.`,
    [
      {
        field: 'recipients',
        message: `at most ${Math.max(0, MAX_RECIPIENTS_PER_CAMPAIGN - held)} more`,
      },
    ],
  );
}

function notDraft(): ConflictError {
  return new ConflictError('The campaign is no longer a draft; recipients can no longer be added.');
}

/**
 * The invalid phones of a page as `skipped` items, one per distinct input: the same bad string
 * twice is one item (two puts of one key in one transaction is a `ValidationException` on
 * DynamoDB), the second counted as a collapsed duplicate.
 */
export function distinctInvalid(invalid: NormalizedPage['invalid']): {
  readonly raws: readonly string[];
  readonly duplicates: number;
} {
  const raws = [...new Set(invalid.map(({ raw }) => raw))];
  return { raws, duplicates: invalid.length - raws.length };
}

export async function insertPage(
  deps: CampaignDeps,
  tenantId: string,
  campaignId: string,
  page: NormalizedPage,
  addedBy: string | undefined,
): Promise<PageResult> {
  const invalid = distinctInvalid(page.invalid);
  const incoming = page.contacts.length + invalid.raws.length;
  const reservation = addedBy ?? randomBytes(12).toString('hex');
  await reserveRoom(deps, tenantId, campaignId, reservation, incoming);
  const now = isoTime(deps.clock);
  const base = {
    tenantId,
    campaignId,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    ...(addedBy ? { addedBy } : {}),
  };
  const puts: PendingPut[] = [
    ...page.contacts.map((contact: Contact) => ({
      shard: shardOf(contact.phone),
      recipient: {
        ...base,
        status: 'pending' as const,
        phone: contact.phone,
        ...(contact.name ? { name: contact.name } : {}),
      },
    })),
    ...invalid.raws.map((raw) => ({
      shard: shardOfSkipped(raw),
      recipient: {
        ...base,
        status: 'skipped' as const,
        phone: raw,
        lastError: 'invalid phone number',
      },
    })),
  ];
  const chunks: PendingPut[][] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const inShard = puts.filter((p) => p.shard === shard);
    for (let i = 0; i < inShard.length; i += PUTS_PER_TRANSACTION) {
      chunks.push(inShard.slice(i, i + PUTS_PER_TRANSACTION));
    }
  }
  let added = 0;
  let skipped = 0;
  let duplicates = page.duplicates + invalid.duplicates;
  await forEachWithConcurrency(chunks, PAGE_CONCURRENCY, async (chunk) => {
    const outcome = await insertChunk(deps, tenantId, campaignId, chunk, addedBy);
    added += outcome.added;
    skipped += outcome.skipped;
    duplicates += outcome.duplicates;
    failpoint(FP_RECIPIENTS_AFTER_CHUNK);
  });
  await deps.store.campaigns.settle(tenantId, campaignId, reservation, incoming - added - skipped);
  return { recipients: added, duplicatesCollapsed: duplicates, skipped };
}

/**
 * The cap as a condition, for the whole page at once (the store's `reserve`): two pages racing for
 * the last room cannot both pass, and a refused page writes nothing. A retry of the same request
 * (same Idempotency-Key) finds its reservation and does not reserve twice.
 */
async function reserveRoom(
  deps: CampaignDeps,
  tenantId: string,
  campaignId: string,
  reservation: string,
  incoming: number,
): Promise<void> {
  const result = await deps.store.campaigns.reserve(tenantId, campaignId, {
    id: reservation,
    incoming,
    cap: MAX_RECIPIENTS_PER_CAMPAIGN,
    at: isoTime(deps.clock),
  });
  if (result.reserved || result.reason === 'already') return;
  if (result.reason === 'not-draft') throw notDraft();
  throw capExceeded(result.held);
}

/**
 * One chunk of one shard, in one transaction (see the store's `insert`). Contacts that already
 * exist are taken out and the rest tried again: they are duplicates, or, when an earlier run of
 * this same request (same Idempotency-Key) wrote them, already counted.
 */
async function insertChunk(
  deps: CampaignDeps,
  tenantId: string,
  campaignId: string,
  chunk: readonly PendingPut[],
  addedBy: string | undefined,
): Promise<{ added: number; skipped: number; duplicates: number }> {
  let remaining = [...chunk];
  let duplicates = 0;
  let earlier = { added: 0, skipped: 0 };
  while (remaining.length > 0) {
    const pending = remaining.filter((p) => p.recipient.status === 'pending').length;
    const skipped = remaining.length - pending;
    const result = await deps.store.pages.insert(
      tenantId,
      campaignId,
      remaining.map((p) => p.recipient),
    );
    if (result.inserted) {
      return { added: pending + earlier.added, skipped: skipped + earlier.skipped, duplicates };
    }
    if (result.reason === 'not-draft') throw notDraft();
    const kept: PendingPut[] = [];
    remaining.forEach((p, index) => {
      if (!result.taken.has(index)) {
        kept.push(p);
        return;
      }
      const old = result.taken.get(index);
      if (addedBy && old?.addedBy === addedBy) {
        earlier = {
          added: earlier.added + (p.recipient.status === 'pending' ? 1 : 0),
          skipped: earlier.skipped + (p.recipient.status === 'skipped' ? 1 : 0),
        };
      } else {
        duplicates += 1;
      }
    });
    remaining = kept;
  }
  return { ...earlier, duplicates };
}

export interface RecipientView {
  readonly phone: string;
  readonly name?: string;
  readonly status: RecipientStatus;
  readonly providerMessageId: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

export function toRecipientView(item: RecipientItem): RecipientView {
  return {
    phone: item.phone,
    ...(item.name ? { name: item.name } : {}),
    status: item.status,
    providerMessageId: item.providerMessageId ?? null,
    attempts: item.attempts,
    lastError: item.lastError ?? null,
  };
}

/**
 * The recipients, shard by shard, strongly consistent with the totals (the store's `list`); the
 * cursor names the shard and the position in it.
 */
export async function listRecipients(
  deps: Pick<CampaignDeps, 'store'>,
  tenantId: string,
  campaignId: string,
  options: { status?: RecipientStatus; cursor?: string; limit: number },
): Promise<{ recipients: RecipientView[]; nextCursor: string | null }> {
  await requireCampaign(deps, tenantId, campaignId);
  const page = await deps.store.pages.list(tenantId, campaignId, options);
  return { recipients: page.recipients.map(toRecipientView), nextCursor: page.nextCursor };
}
