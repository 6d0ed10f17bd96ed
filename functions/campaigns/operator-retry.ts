/**
 * The operator's deliberate retry of a contact whose send ended `unknown`
 * (`POST /v1/campaigns/{campaignId}/recipients/{phone}/retry`): under the default `hold` policy
 * this is the only way such a contact is sent again, so the choice to risk a second message is a
 * person's, recorded on the recipient (`operatorRetries`).
 *
 *   unknown → pending (counters, `operatorRetries` + 1) → reopen a completed campaign → doorbell
 *
 * Repeating the request after a crash continues it: a recipient already pending because of an
 * operator retry is rung again (the sender re-reads it; one claim decides), never answered 409.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import { enqueueFifo } from '../kernel/fifo.js';
import { transition } from '../kernel/transition.js';
import { getCampaign } from './campaign-store.js';
import { countedTransition, counterWrite } from './counters.js';
import { type FanoutDeps, sendMessage } from './fanout.js';
import {
  ACTIVE_CAMPAIGNS,
  campaignKey,
  recipientKey,
  reringGroupOf,
  shardOf,
  sweepPartition,
} from './model.js';
import { recipientE164 } from './recipient-input.js';
import { readRecipient } from './sender.js';

/** When recovery looks again at a retried contact whose doorbell got lost. */
const RETRY_HORIZON_MS = 300_000;

export interface OperatorRetryResult {
  readonly campaignId: string;
  readonly phone: string;
  readonly status: 'pending';
  readonly operatorRetries: number;
}

export async function retryUnknownRecipient(
  deps: FanoutDeps & { readonly clock: Clock },
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
  const campaign = await getCampaign(deps, tenantId, campaignId);
  if (!campaign) throw new NotFoundError(`Campaign ${campaignId} does not exist.`);
  const key = recipientKey(tenantId, campaignId, phone);
  const recipient = await readRecipient(deps.ddb, deps.table, key);
  if (!recipient) throw new NotFoundError('This phone is not a recipient of the campaign.');
  const now = isoTime(deps.clock);
  let retries = recipient.operatorRetries ?? 0;
  if (recipient.status === 'unknown') {
    retries += 1;
    const moved = await countedTransition(deps.ddb, {
      table: deps.table,
      key,
      from: ['unknown'],
      to: 'pending',
      set: {
        operatorRetries: retries,
        lastError: `outcome unknown; sent again on an operator's retry (${retries})`,
        sweepPk: sweepPartition(tenantId, campaignId, shardOf(phone)),
        sweepAt: new Date(deps.clock.now() + RETRY_HORIZON_MS).toISOString(),
        updatedAt: now,
      },
      also: {
        expression: 'attribute_not_exists(#or) OR #or = :before',
        names: { '#or': 'operatorRetries' },
        values: { ':before': retries - 1 },
      },
      with: [
        counterWrite(deps.table, tenantId, campaignId, shardOf(phone), {
          unknown: -1,
          pending: 1,
        }),
      ],
    });
    if (!moved.applied) {
      throw new ConflictError('The recipient changed meanwhile; read it and try again.');
    }
  } else if (!(recipient.status === 'pending' && retries > 0)) {
    throw new ConflictError(
      `Only a recipient whose outcome is unknown can be retried; this one is ${recipient.status}.`,
    );
  }
  if (campaign.status === 'completed') {
    // A pending contact keeps the campaign open: recovery completes it again once it is done.
    await transition(deps.ddb, {
      table: deps.table,
      key: campaignKey(tenantId, campaignId),
      from: ['completed'],
      to: 'running',
      set: { updatedAt: now, sweepPk: ACTIVE_CAMPAIGNS, sweepAt: now },
      remove: ['completedAt'],
    });
  }
  const ring = `o${retries}`;
  await enqueueFifo(deps.sqs, deps.sendsQueueUrl, [
    {
      ...sendMessage(tenantId, campaignId, phone, ring),
      groupId: reringGroupOf(campaignId, phone, ring),
    },
  ]);
  return { campaignId, phone, status: 'pending', operatorRetries: retries };
}
