/**
 * Campaigns as the operator moves them: create (with a first page of recipients), start / pause /
 * resume, complete (recovery), and the totals view. Every move is the store's one guarded write of
 * the campaign item; a lost race answers the campaign as the winner left it.
 */
import { randomBytes } from 'node:crypto';
import { isoTime } from '../kernel/clock.js';
import { ConflictError, InvalidRequestError } from '../kernel/errors.js';
import { failpoint } from '../kernel/failpoints.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Tenant } from '../tenants/index.js';
import { type CampaignDeps, type CampaignMove, requireCampaign } from './campaign-store.js';
import { FP_CREATE_AFTER_META, FP_START_AFTER_RUNNING } from './failpoints.js';
import { type FanoutDeps, ringFanout } from './fanout.js';
import type { CampaignItem } from './items.js';
import {
  type CampaignStatus,
  type CampaignTemplate,
  type CampaignView,
  campaignView,
  newCampaignId,
} from './model.js';
import type { RecipientInput } from './recipient-input.js';
import { insertPage, type PageResult, validatePage } from './recipient-pages.js';

export interface CreateCampaignInput {
  readonly name: string;
  readonly template: CampaignTemplate;
  readonly phoneNumberId: string;
  readonly recipients: readonly RecipientInput[];
  readonly skipInvalid?: boolean | undefined;
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

/**
 * `POST /v1/campaigns` as a whole: the campaign id (derived from the request's Idempotency-Key and
 * body when it has one, see `campaignIdFor`), the campaign and its first page. The page's
 * recipients are marked as added by this request, so its retry recognises them as its own.
 */
export function createCampaignRequest(
  deps: CampaignDeps,
  tenant: Tenant,
  input: CreateCampaignInput,
  idempotencyKey: string | undefined,
): Promise<PageResult & { campaignId: string }> {
  const campaignId = campaignIdFor(
    tenant.tenantId,
    idempotencyKey,
    deps.clock.now(),
    sha256Hex(JSON.stringify(input)),
  );
  const addedBy = idempotencyKey ? sha256Hex(`create|${idempotencyKey}`) : undefined;
  return createCampaign(deps, tenant, campaignId, input, addedBy);
}

export async function createCampaign(
  deps: CampaignDeps,
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
  const now = isoTime(deps.clock);
  // The campaign, its tenant listing item and its fold groups in one transaction: it exists exactly
  // when listed.
  const created = await deps.store.campaigns.create({
    tenantId: tenant.tenantId,
    campaignId,
    name: input.name,
    template: input.template,
    phoneNumberId: input.phoneNumberId,
    status: 'draft',
    fanoutGeneration: 0,
    createdAt: now,
    updatedAt: now,
  });
  // A retry of the same create (same Idempotency-Key) finds its campaign, listed the first time.
  if (!created.created && created.existing?.status !== 'draft') {
    throw new ConflictError(`Campaign ${campaignId} already exists and is no longer a draft.`);
  }
  failpoint(FP_CREATE_AFTER_META);
  const result = await insertPage(deps, tenant.tenantId, campaignId, page, addedBy);
  return { campaignId, ...result };
}

/**
 * Operator view of a campaign. Totals are the sum of the shards' counts folded from the change
 * feed: they equal the recipient listing once the feed is folded (seconds after a transition).
 */
export async function describeCampaign(
  deps: Pick<CampaignDeps, 'store'>,
  tenantId: string,
  campaignId: string,
): Promise<CampaignView> {
  const campaign = await requireCampaign(deps, tenantId, campaignId);
  return campaignView(campaign, await deps.store.counters.totals(tenantId, campaignId));
}

/**
 * Moves a draft to running. Starting a running (or paused, or completed) campaign changes
 * nothing; the caller then (re-)rings fan-out for the shards not done yet, which is what makes a
 * start that crashed half-way resumable.
 */
export async function markRunning(
  deps: CampaignDeps,
  tenantId: string,
  campaignId: string,
): Promise<CampaignItem> {
  const campaign = await requireCampaign(deps, tenantId, campaignId);
  if (campaign.status !== 'draft') return campaign;
  const now = isoTime(deps.clock);
  const started = await deps.store.campaigns.move(tenantId, campaignId, {
    from: 'draft',
    to: 'running',
    at: now,
    startedAt: now,
    sweep: { list: 'active', at: now },
    fanoutGeneration: 0,
  });
  if (!started) return requireCampaign(deps, tenantId, campaignId);
  return { ...campaign, status: 'running', startedAt: now };
}

export async function pauseCampaign(deps: CampaignDeps, tenantId: string, campaignId: string) {
  const campaign = await requireCampaign(deps, tenantId, campaignId);
  if (campaign.status === 'paused') return campaign;
  // Out of the running list: recovery no longer rings its backlog, only settles sends in flight.
  return moveCampaign(deps, campaign, 'paused', { from: 'running', to: 'paused', sweep: 'paused' });
}

/**
 * Paused → running with a new fan-out generation: senders acknowledged (and dropped) the queue
 * messages of a paused campaign, so its pending recipients are rung again.
 */
export async function resumeCampaign(deps: CampaignDeps, tenantId: string, campaignId: string) {
  const campaign = await requireCampaign(deps, tenantId, campaignId);
  if (campaign.status === 'running') return campaign;
  return moveCampaign(deps, campaign, 'resumed', {
    from: 'paused',
    to: 'running',
    sweep: 'active',
    fanoutGeneration: (campaign.fanoutGeneration ?? 0) + 1,
  });
}

/** The operator's state changes, by the route's last word. */
export type CampaignAction = 'start' | 'pause' | 'resume';

/**
 * Start, pause or resume, and for a campaign running afterwards, fan-out rung for the shards not
 * done yet: starting again re-rings them, which is also how a start that crashed half-way resumes;
 * a resume rings the pending recipients again (senders drop the messages of a paused campaign).
 */
export async function changeCampaignState(
  deps: FanoutDeps,
  tenantId: string,
  campaignId: string,
  action: CampaignAction,
): Promise<CampaignItem> {
  if (action === 'pause') return pauseCampaign(deps, tenantId, campaignId);
  const campaign =
    action === 'resume'
      ? await resumeCampaign(deps, tenantId, campaignId)
      : await markRunning(deps, tenantId, campaignId);
  failpoint(FP_START_AFTER_RUNNING);
  if (campaign.status === 'running') await ringFanout(deps, campaign, 'start');
  return campaign;
}

/**
 * An operator's move of a campaign `from` → `to` (a 409 from any other status). Lost to a
 * concurrent move: the campaign as that move left it.
 */
async function moveCampaign(
  deps: CampaignDeps,
  campaign: CampaignItem,
  verb: string,
  move: {
    readonly from: CampaignStatus;
    readonly to: CampaignStatus;
    readonly sweep: 'active' | 'paused';
    readonly fanoutGeneration?: number;
  },
): Promise<CampaignItem> {
  if (campaign.status !== move.from) {
    throw new ConflictError(
      `Only a ${move.from} campaign can be ${verb}; this one is ${campaign.status}.`,
    );
  }
  const { tenantId, campaignId } = campaign;
  const change: CampaignMove = {
    from: move.from,
    to: move.to,
    at: isoTime(deps.clock),
    sweep: { list: move.sweep },
    ...(move.fanoutGeneration !== undefined ? { fanoutGeneration: move.fanoutGeneration } : {}),
  };
  const moved = await deps.store.campaigns.move(tenantId, campaignId, change);
  if (!moved) return requireCampaign(deps, tenantId, campaignId);
  return {
    ...campaign,
    status: move.to,
    ...(move.fanoutGeneration !== undefined ? { fanoutGeneration: move.fanoutGeneration } : {}),
  };
}

/**
 * Running → completed, once recovery found nothing left to send. Kept in a sweep list (completed)
 * one more while: the counter reconciliation checks it a last time.
 */
export function completeCampaign(
  deps: CampaignDeps,
  tenantId: string,
  campaignId: string,
): Promise<boolean> {
  const at = isoTime(deps.clock);
  return deps.store.campaigns.move(tenantId, campaignId, {
    from: 'running',
    to: 'completed',
    at,
    completedAt: at,
    sweep: { list: 'completed', at },
  });
}
