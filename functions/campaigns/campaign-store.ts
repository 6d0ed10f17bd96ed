/**
 * Campaigns as the operator sees them: create with a first page of recipients, add pages while a
 * draft, start / pause / resume, totals and the recipient listing.
 *
 * Uniqueness by E.164 is a conditional put of the recipient item itself (its key derives from the
 * contact), in the same transaction as its shard's counter and a check that the campaign is still
 * a draft, so a page can never be half counted and a contact never lands twice, whatever page it
 * comes in.
 */
import { randomBytes } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { decodeCursor, encodeCursor, keyAttribute } from '../kernel/cursor.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import { failpoint } from '../kernel/failpoints.js';
import { sendFromCursor } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';
import { retryOnConflict } from '../kernel/retry.js';
import { sha256Hex } from '../kernel/secrets.js';
import { transition } from '../kernel/transition.js';
import type { Tenant } from '../tenants/index.js';
import { campaignListingWrite } from './campaign-listing.js';
import { type CounterDeltas, counterWrite, readTotals } from './counters.js';
import { FP_CREATE_AFTER_META, FP_RECIPIENTS_AFTER_CHUNK } from './failpoints.js';
import {
  ACTIVE_CAMPAIGNS,
  type CampaignItem,
  type CampaignStatus,
  type CampaignTemplate,
  type CampaignView,
  COMPLETED_CAMPAIGNS,
  campaignKey,
  campaignView,
  MAX_RECIPIENTS_PER_CAMPAIGN,
  newCampaignId,
  PAUSED_CAMPAIGNS,
  type RecipientItem,
  type RecipientStatus,
  recipientKey,
  recipientPartition,
  SHARDS,
  shardOf,
  skippedKey,
} from './model.js';
import {
  type Contact,
  invalidPhoneDetails,
  normalizeRecipients,
  type RecipientInput,
} from './recipient-input.js';

export interface CampaignStore {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  /** Physical name of the `campaigns` table. */
  readonly table: string;
}

export interface CreateCampaignInput {
  readonly name: string;
  readonly template: CampaignTemplate;
  readonly phoneNumberId: string;
  readonly recipients: readonly RecipientInput[];
  readonly skipInvalid?: boolean | undefined;
}

export interface PageResult {
  /** Contacts this request added. */
  readonly recipients: number;
  /** Entries that were a contact already in this page or the campaign. */
  readonly duplicatesCollapsed: number;
  /** Invalid phones kept as `skipped` (only with `skipInvalid`). */
  readonly skipped: number;
}

/**
 * A campaign id. With an Idempotency-Key it derives from tenant, key and request body, so a create
 * retried after a crash continues the same campaign instead of starting a second one, while the
 * key reused with another body once it expired (24 h) starts a new campaign instead of adding to
 * (or conflicting with) the old one.
 */
export function campaignIdFor(
  tenantId: string,
  idempotencyKey: string | undefined,
  nowMs: number,
  requestFingerprint = '',
): string {
  if (idempotencyKey) {
    return `cmp_${sha256Hex(`${tenantId}|create|${idempotencyKey}|${requestFingerprint}`).slice(0, 24)}`;
  }
  return newCampaignId(nowMs, randomBytes(8).toString('hex'));
}

export async function getCampaign(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  consistent = true,
): Promise<CampaignItem | undefined> {
  const out = await store.ddb.send(
    new GetCommand({
      TableName: store.table,
      Key: campaignKey(tenantId, campaignId),
      ConsistentRead: consistent,
    }),
  );
  return out.Item as CampaignItem | undefined;
}

async function requireCampaign(store: CampaignStore, tenantId: string, campaignId: string) {
  const campaign = await getCampaign(store, tenantId, campaignId);
  if (!campaign) throw new NotFoundError(`Campaign ${campaignId} does not exist.`);
  return campaign;
}

function validatePage(tenant: Tenant, recipients: readonly RecipientInput[], skipInvalid: boolean) {
  const page = normalizeRecipients(recipients, tenant.defaultCountry);
  if (page.invalid.length > 0 && !skipInvalid) {
    throw new InvalidRequestError(
      `${page.invalid.length} recipient phone number(s) are not valid; fix them or set skipInvalid.`,
      invalidPhoneDetails(page.invalid, tenant.defaultCountry),
    );
  }
  return page;
}

export async function createCampaign(
  store: CampaignStore,
  tenant: Tenant,
  campaignId: string,
  input: CreateCampaignInput,
  addedBy?: string,
): Promise<PageResult & { campaignId: string }> {
  // Everything is checked before the first write: a bad request leaves nothing behind.
  if (!(tenant.whatsapp?.phoneNumberIds ?? []).includes(input.phoneNumberId)) {
    throw new InvalidRequestError('phoneNumberId is not one of this tenant’s WhatsApp numbers.', [
      { field: 'phoneNumberId', message: 'must be one of the tenant’s whatsapp.phoneNumberIds' },
    ]);
  }
  const page = validatePage(tenant, input.recipients, input.skipInvalid === true);
  const now = isoTime(store.clock);
  // The campaign and its tenant listing item (`campaign-listing.ts`) in one transaction: a campaign
  // exists exactly when it is listed.
  const meta = await retryOnConflict(() =>
    writeAtomically(store.ddb, [
      {
        label: CAMPAIGN_WRITE,
        put: {
          table: store.table,
          condition: 'attribute_not_exists(pk)',
          item: {
            ...campaignKey(tenant.tenantId, campaignId),
            kind: 'campaign',
            tenantId: tenant.tenantId,
            campaignId,
            name: input.name,
            template: input.template,
            phoneNumberId: input.phoneNumberId,
            status: 'draft',
            fanoutGeneration: 0,
            createdAt: now,
            updatedAt: now,
          },
        },
      },
      campaignListingWrite(store.table, tenant.tenantId, campaignId, now),
    ]),
  );
  // A retry of the same create (same Idempotency-Key) finds its campaign, listed the first time.
  if (!meta.ok && meta.current?.status !== 'draft') {
    throw new ConflictError(`Campaign ${campaignId} already exists and is no longer a draft.`);
  }
  failpoint(FP_CREATE_AFTER_META);
  const result = await insertPage(store, tenant.tenantId, campaignId, page, addedBy);
  return { campaignId, ...result };
}

export async function addRecipients(
  store: CampaignStore,
  tenant: Tenant,
  campaignId: string,
  recipients: readonly RecipientInput[],
  skipInvalid: boolean,
  addedBy?: string,
): Promise<PageResult> {
  const campaign = await requireCampaign(store, tenant.tenantId, campaignId);
  if (campaign.status !== 'draft') {
    throw new ConflictError('Recipients can only be added while the campaign is a draft.');
  }
  const page = validatePage(tenant, recipients, skipInvalid);
  return insertPage(store, tenant.tenantId, campaignId, page, addedBy);
}

interface PendingPut {
  readonly shard: number;
  readonly item: Item;
  readonly status: RecipientStatus;
}

/** Puts per transaction: 100 minus the campaign item and the counter. */
const PUTS_PER_TRANSACTION = 98;
/** Chunks in flight at once: each also moves the campaign item (the cap), so keep it small. */
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

/**
 * The invalid phones of a page as `skipped` items, one per distinct input: the same bad string
 * twice is one item (two puts of one key in one transaction is a `ValidationException` on
 * DynamoDB), the second counted as a collapsed duplicate.
 */
export function distinctInvalid(invalid: ReturnType<typeof normalizeRecipients>['invalid']): {
  readonly raws: readonly string[];
  readonly duplicates: number;
} {
  const raws = [...new Set(invalid.map(({ raw }) => raw))];
  return { raws, duplicates: invalid.length - raws.length };
}

async function insertPage(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  page: ReturnType<typeof normalizeRecipients>,
  addedBy: string | undefined,
): Promise<PageResult> {
  const invalid = distinctInvalid(page.invalid);
  const incoming = page.contacts.length + invalid.raws.length;
  const reservation = addedBy ?? randomBytes(12).toString('hex');
  await reserveRoom(store, tenantId, campaignId, reservation, incoming);
  const now = isoTime(store.clock);
  const base = (status: RecipientStatus) => ({
    kind: 'recipient',
    tenantId,
    campaignId,
    status,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    ...(addedBy ? { addedBy } : {}),
  });
  const puts: PendingPut[] = [
    ...page.contacts.map((contact: Contact) => {
      const key = recipientKey(tenantId, campaignId, contact.phone);
      return {
        shard: shardOf(contact.phone),
        status: 'pending' as const,
        item: {
          ...key,
          ...base('pending'),
          phone: contact.phone,
          ...(contact.name ? { name: contact.name } : {}),
        },
      };
    }),
    ...invalid.raws.map((raw) => {
      const key = skippedKey(tenantId, campaignId, raw);
      return {
        shard: Number(key.pk.split('#').at(-1)),
        status: 'skipped' as const,
        item: { ...key, ...base('skipped'), phone: raw, lastError: 'invalid phone number' },
      };
    }),
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
    const outcome = await insertChunk(store, tenantId, campaignId, chunk, addedBy);
    added += outcome.added;
    skipped += outcome.skipped;
    duplicates += outcome.duplicates;
    failpoint(FP_RECIPIENTS_AFTER_CHUNK);
  });
  await settleRoom(store, tenantId, campaignId, reservation, incoming - added - skipped);
  return { recipients: added, duplicatesCollapsed: duplicates, skipped };
}

const CAMPAIGN_WRITE = 'campaign';
const RESERVATION_WRITE = 'reservation';
const COUNTER_WRITE = 'counter';

const reservationKey = (tenantId: string, campaignId: string, reservation: string) => ({
  pk: campaignKey(tenantId, campaignId).pk,
  sk: `RESERVE#${reservation}`,
});

/**
 * The cap as a condition, for the whole page at once: one transaction moves the campaign's
 * `recipientsHeld` by the page's size only if it stays within `MAX_RECIPIENTS_PER_CAMPAIGN` (and
 * the campaign is a draft), together with a reservation item named after the request. Two pages
 * racing for the last room cannot both pass, and a refused page writes nothing. A retry of the
 * same request (same Idempotency-Key) finds its reservation and does not reserve twice.
 */
async function reserveRoom(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  reservation: string,
  incoming: number,
): Promise<void> {
  const result = await retryOnConflict(() =>
    writeAtomically(store.ddb, [
      {
        label: CAMPAIGN_WRITE,
        update: {
          table: store.table,
          key: campaignKey(tenantId, campaignId),
          update: 'ADD #held :n',
          condition: '#st = :draft AND (attribute_not_exists(#held) OR #held <= :room)',
          names: { '#st': 'status', '#held': 'recipientsHeld' },
          values: {
            ':n': incoming,
            ':draft': 'draft',
            ':room': MAX_RECIPIENTS_PER_CAMPAIGN - incoming,
          },
        },
      },
      {
        label: RESERVATION_WRITE,
        put: {
          table: store.table,
          item: {
            ...reservationKey(tenantId, campaignId, reservation),
            kind: 'reservation',
            reserved: incoming,
            createdAt: isoTime(store.clock),
          },
          condition: 'attribute_not_exists(pk)',
        },
      },
    ]),
  );
  if (result.ok) return;
  if (result.failures.some((f) => f.label === RESERVATION_WRITE)) return; // this request's, already
  const current = result.current as Partial<CampaignItem> | undefined;
  if (current?.status !== 'draft') {
    throw new ConflictError(
      'The campaign is no longer a draft; recipients can no longer be added.',
    );
  }
  throw capExceeded(current.recipientsHeld ?? 0);
}

/** Gives back the room a page reserved but did not use (duplicates), once per reservation. */
async function settleRoom(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  reservation: string,
  unused: number,
): Promise<void> {
  await retryOnConflict(() =>
    writeAtomically(store.ddb, [
      {
        label: RESERVATION_WRITE,
        update: {
          table: store.table,
          key: reservationKey(tenantId, campaignId, reservation),
          update: 'SET settled = :yes, unused = :unused',
          condition: 'attribute_exists(pk) AND attribute_not_exists(settled)',
          values: { ':yes': true, ':unused': unused },
        },
      },
      ...(unused > 0
        ? [
            {
              label: CAMPAIGN_WRITE,
              update: {
                table: store.table,
                key: campaignKey(tenantId, campaignId),
                update: 'ADD #held :minus',
                names: { '#held': 'recipientsHeld' },
                values: { ':minus': -unused },
              },
            } satisfies AtomicWrite,
          ]
        : []),
    ]),
  );
}

/**
 * One transaction: the campaign still a draft + the shard's counter + each contact put only if new
 * (the page's room under the cap was reserved before, see `reserveRoom`).
 * Contacts that already exist are taken out and the rest tried again: they are duplicates, or,
 * when an earlier run of this same request (same Idempotency-Key) wrote them, already counted.
 */
async function insertChunk(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  chunk: readonly PendingPut[],
  addedBy: string | undefined,
): Promise<{ added: number; skipped: number; duplicates: number }> {
  let remaining = [...chunk];
  let duplicates = 0;
  let earlier = { added: 0, skipped: 0 };
  while (remaining.length > 0) {
    const shard = remaining[0]?.shard ?? 0;
    const pending = remaining.filter((p) => p.status === 'pending').length;
    const skipped = remaining.length - pending;
    const counts: CounterDeltas = { recipients: remaining.length, pending, skipped };
    const writes: AtomicWrite[] = [
      {
        label: CAMPAIGN_WRITE,
        check: {
          table: store.table,
          key: campaignKey(tenantId, campaignId),
          condition: '#st = :draft',
          names: { '#st': 'status' },
          values: { ':draft': 'draft' },
        },
      },
      { ...counterWrite(store.table, tenantId, campaignId, shard, counts), label: COUNTER_WRITE },
      ...remaining.map(
        (p, index): AtomicWrite => ({
          label: `put#${index}`,
          put: {
            table: store.table,
            item: p.item,
            condition: 'attribute_not_exists(pk)',
          },
        }),
      ),
    ];
    const result = await retryOnConflict(() => writeAtomically(store.ddb, writes));
    if (result.ok) {
      return {
        added: pending + earlier.added,
        skipped: skipped + earlier.skipped,
        duplicates,
      };
    }
    if (result.failures.some((f) => f.label === CAMPAIGN_WRITE)) {
      throw new ConflictError(
        'The campaign is no longer a draft; recipients can no longer be added.',
      );
    }
    const existing = new Map<number, Item | undefined>();
    for (const failure of result.failures) {
      if (failure.label.startsWith('put#')) {
        existing.set(Number(failure.label.slice(4)), failure.current);
      }
    }
    const kept: PendingPut[] = [];
    remaining.forEach((p, index) => {
      if (!existing.has(index)) {
        kept.push(p);
        return;
      }
      const old = existing.get(index);
      if (addedBy && old?.addedBy === addedBy) {
        earlier = {
          added: earlier.added + (p.status === 'pending' ? 1 : 0),
          skipped: earlier.skipped + (p.status === 'skipped' ? 1 : 0),
        };
      } else {
        duplicates += 1;
      }
    });
    remaining = kept;
  }
  return { ...earlier, duplicates };
}

/**
 * Operator view of a campaign. Totals are the sum of the shard counters, which move in the same
 * transactions as the recipients they count.
 */
export async function describeCampaign(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
): Promise<CampaignView> {
  const campaign = await requireCampaign(store, tenantId, campaignId);
  return campaignView(campaign, await readTotals(store.ddb, store.table, tenantId, campaignId));
}

export interface RecipientView {
  readonly phone: string;
  readonly name?: string;
  readonly status: RecipientStatus;
  readonly providerMessageId: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

/** The listing's position: the shard and the last key read in it. */
const recipientCursor = z.strictObject({
  s: z
    .number()
    .int()
    .min(0)
    .max(SHARDS - 1),
  k: keyAttribute.optional(),
});
type Cursor = z.output<typeof recipientCursor>;

export function toRecipientView(item: RecipientItem): RecipientView {
  return {
    phone: item.phone,
    ...(item.name ? { name: item.name } : {}),
    status: item.status,
    providerMessageId: item.providerMessageId ?? null,
    attempts: item.attempts ?? 0,
    lastError: item.lastError ?? null,
  };
}

/** How many items one listing request may read before it answers with a cursor. */
const MAX_EVALUATED_PER_REQUEST = 5000;

/**
 * Lists recipients shard by shard (strongly consistent, so the listing agrees with the counters
 * moved in the same transactions). The cursor names the shard and the last key read in it.
 */
export async function listRecipients(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  options: { status?: RecipientStatus; cursor?: string; limit: number },
): Promise<{ recipients: RecipientView[]; nextCursor: string | null }> {
  await requireCampaign(store, tenantId, campaignId);
  // Bound to this campaign of this tenant and this status filter: any other listing's is a 400.
  const scope = { listing: 'recipients', tenantId, campaignId, status: options.status };
  const from = decodeCursor(options.cursor, recipientCursor, scope);
  let cursor: Cursor | undefined = from ?? { s: 0 };
  const recipients: RecipientView[] = [];
  let evaluated = 0;
  while (cursor && recipients.length < options.limit && evaluated < MAX_EVALUATED_PER_REQUEST) {
    const pk = recipientPartition(tenantId, campaignId, cursor.s);
    const input = {
      TableName: store.table,
      KeyConditionExpression: 'pk = :pk',
      ConsistentRead: true,
      Limit: options.limit - recipients.length,
      ...(options.status
        ? {
            FilterExpression: '#st = :st',
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: { ':pk': pk, ':st': options.status },
          }
        : { ExpressionAttributeValues: { ':pk': pk } }),
    };
    // Only the first query starts from the client's key (`sendFromCursor` answers a refused one 400).
    const start = cursor.k && cursor === from ? { pk, sk: cursor.k } : undefined;
    const out: QueryCommandOutput = await sendFromCursor(store.ddb, input, start);
    evaluated += out.ScannedCount ?? 0;
    for (const item of out.Items ?? []) recipients.push(toRecipientView(item as RecipientItem));
    const last: unknown = out.LastEvaluatedKey?.sk;
    if (typeof last === 'string') cursor = { s: cursor.s, k: last };
    else cursor = cursor.s + 1 < SHARDS ? { s: cursor.s + 1 } : undefined;
  }
  return { recipients, nextCursor: encodeCursor(cursor, scope) };
}

/**
 * Moves a draft to running. Starting a running (or paused, or completed) campaign changes
 * nothing; the caller then (re-)rings fan-out for the shards not done yet, which is what makes a
 * start that crashed half-way resumable.
 */
export async function markRunning(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
): Promise<CampaignItem> {
  const campaign = await requireCampaign(store, tenantId, campaignId);
  if (campaign.status !== 'draft') return campaign;
  const now = isoTime(store.clock);
  const started = await moveCampaignStatus(store, tenantId, campaignId, 'draft', 'running', {
    startedAt: now,
    updatedAt: now,
    sweepPk: ACTIVE_CAMPAIGNS,
    sweepAt: now,
    fanoutGeneration: 0,
  });
  if (!started) return requireCampaign(store, tenantId, campaignId);
  return { ...campaign, status: 'running', startedAt: now };
}

export async function pauseCampaign(store: CampaignStore, tenantId: string, campaignId: string) {
  const campaign = await requireCampaign(store, tenantId, campaignId);
  if (campaign.status === 'paused') return campaign;
  // Out of the running list: recovery no longer rings its backlog, only settles sends in flight.
  return moveCampaign(store, campaign, 'running', 'paused', 'paused', {
    sweepPk: PAUSED_CAMPAIGNS,
  });
}

/**
 * Paused → running with a new fan-out generation: senders acknowledged (and dropped) the queue
 * messages of a paused campaign, so its pending recipients are rung again.
 */
export async function resumeCampaign(store: CampaignStore, tenantId: string, campaignId: string) {
  const campaign = await requireCampaign(store, tenantId, campaignId);
  if (campaign.status === 'running') return campaign;
  return moveCampaign(store, campaign, 'paused', 'running', 'resumed', {
    sweepPk: ACTIVE_CAMPAIGNS,
    fanoutGeneration: (campaign.fanoutGeneration ?? 0) + 1,
  });
}

/**
 * An operator's move of a campaign `from` → `to` (a 409 from any other status). Lost to a
 * concurrent move: the campaign as that move left it.
 */
async function moveCampaign(
  store: CampaignStore,
  campaign: CampaignItem,
  from: CampaignStatus,
  to: CampaignStatus,
  verb: string,
  set: { readonly sweepPk: string; readonly fanoutGeneration?: number },
): Promise<CampaignItem> {
  if (campaign.status !== from) {
    throw new ConflictError(
      `Only a ${from} campaign can be ${verb}; this one is ${campaign.status}.`,
    );
  }
  const { tenantId, campaignId } = campaign;
  const moved = await moveCampaignStatus(store, tenantId, campaignId, from, to, {
    ...set,
    updatedAt: isoTime(store.clock),
  });
  if (!moved) return requireCampaign(store, tenantId, campaignId);
  return { ...campaign, ...set, status: to };
}

/**
 * Running → completed, once recovery found nothing left to send. Kept in the sweep index (under
 * `COMPLETED_CAMPAIGNS`) one more while: the counter reconciliation checks it a last time.
 */
export function completeCampaign(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
): Promise<boolean> {
  const at = isoTime(store.clock);
  return moveCampaignStatus(store, tenantId, campaignId, 'running', 'completed', {
    completedAt: at,
    updatedAt: at,
    sweepPk: COMPLETED_CAMPAIGNS,
    sweepAt: at,
  });
}

/** The lifecycle's one guarded write: `from` → `to` with `set`; false when it was not `from`. */
async function moveCampaignStatus(
  store: CampaignStore,
  tenantId: string,
  campaignId: string,
  from: CampaignStatus,
  to: CampaignStatus,
  set: Readonly<Record<string, unknown>>,
): Promise<boolean> {
  const result = await transition(store.ddb, {
    table: store.table,
    key: campaignKey(tenantId, campaignId),
    from: [from],
    to,
    set,
  });
  return result.applied;
}
