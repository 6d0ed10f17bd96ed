/**
 * The operator's deliberate retry of a contact whose send ended `unknown`
 * (`POST /v1/campaigns/{campaignId}/recipients/{phone}/retry`): under the default `hold` policy
 * this is the only way such a contact is sent again, so the choice to risk a second message is a
 * person's, recorded on the recipient (`operatorRetries`).
 *
 *   unknown → pending (`operatorRetries` + 1) → reopen a completed campaign → doorbell
 *
 * Repeating the request after a crash continues it: a recipient already pending because of an
 * operator retry is rung again (the sender re-reads it; one claim decides), never answered 409.
 */
import { isoTime } from '../kernel/clock.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import { requireCampaign } from './campaign-store.js';
import { type FanoutDeps, sendMessage } from './fanout.js';
import type { RecipientRef } from './items.js';
import { reringGroupOf } from './model.js';
import { recipientE164 } from './recipient-input.js';

/** When recovery looks again at a retried contact whose doorbell got lost. */
const RETRY_HORIZON_MS = 300_000;

export interface OperatorRetryResult {
  readonly campaignId: string;
  readonly phone: string;
  readonly status: 'pending';
  readonly operatorRetries: number;
}

export async function retryUnknownRecipient(
  deps: FanoutDeps,
  tenant: { readonly tenantId: string; readonly defaultCountry: string },
  campaignId: string,
  rawPhone: string,
): Promise<OperatorRetryResult> {
  const { tenantId } = tenant;
  const phone = rawPhone.length <= 256 ? recipientE164(rawPhone, tenant.defaultCountry) : undefined;
  if (!phone) {
    throw new InvalidRequestError('The phone is not a valid phone number.', [
      { field: 'phone', message: 'must be the phone number of a recipient of this campaign' },
    ]);
  }
  await requireCampaign(deps, tenantId, campaignId); // 404 before anything is read or moved
  const ref: RecipientRef = { tenantId, campaignId, phone };
  const recipient = await deps.store.recipients.get(ref);
  if (!recipient) throw new NotFoundError('This phone is not a recipient of the campaign.');
  const now = isoTime(deps.clock);
  let retries = recipient.operatorRetries ?? 0;
  if (recipient.status === 'unknown') {
    retries += 1;
    const moved = await deps.store.recipients.retryUnknown(ref, {
      operatorRetries: retries,
      lastError: `outcome unknown; sent again on an operator's retry (${retries})`,
      at: now,
      dueAt: new Date(deps.clock.now() + RETRY_HORIZON_MS).toISOString(),
    });
    if (!moved) {
      throw new ConflictError('The recipient changed meanwhile; read it and try again.');
    }
  } else if (!(recipient.status === 'pending' && retries > 0)) {
    throw new ConflictError(
      `Only a recipient whose outcome is unknown can be retried; this one is ${recipient.status}.`,
    );
  }
  // A pending contact keeps the campaign open: recovery completes it again once it is done. The
  // campaign is read again after the move (strongly consistent), not trusted from the read before
  // it: recovery may have completed it in between, having asked the recipients before the move.
  // Recovery asks them once more after completing (recovery.ts), so whichever of the two writes
  // comes last sees the other: the campaign never stays completed with this contact pending.
  const campaign = await requireCampaign(deps, tenantId, campaignId);
  if (campaign.status === 'completed') {
    await deps.store.campaigns.move(tenantId, campaignId, {
      from: 'completed',
      to: 'running',
      at: now,
      sweep: { list: 'active', at: now },
      reopened: true,
    });
  }
  const ring = `o${retries}`;
  await deps.queues.sends([
    {
      ...sendMessage(tenantId, campaignId, phone, ring),
      groupId: reringGroupOf(campaignId, phone, ring),
    },
  ]);
  return { campaignId, phone, status: 'pending', operatorRetries: retries };
}
