/**
 * Applies a WhatsApp Cloud API status (from the inbound webhook, `POST /webhooks/whatsapp`) to the
 * campaign recipient it belongs to.
 *
 * The recipient is found by the echoed `biz_opaque_callback_data` (which names campaign and
 * contact, so it also completes a send whose answer was lost: `sending` with no wamid), else by
 * the wamid index. Statuses only move a recipient forward (pending < sending < sent < delivered <
 * read; a provider `failed` follows sending or sent), each move one guarded conditional write (the
 * fold counts it from the change feed), so duplicates and late statuses change nothing. Late evidence
 * moves a recipient we ended `unknown` or `failed` to what the provider reports.
 */
import { isoTime } from '../kernel/clock.js';
import { failpoint } from '../kernel/failpoints.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import type { CampaignDeps } from './campaign-store.js';
import { FP_STATUS_AFTER_APPLY } from './failpoints.js';
import type { RecipientItem } from './items.js';
import { decodeCallbackData, type RecipientStatus, STATUS_RANK } from './model.js';

export interface WhatsAppStatusEvent {
  readonly tenantId: string;
  readonly phoneNumberId: string;
  /** The message id the status is about. */
  readonly wamid: string;
  readonly status: 'sent' | 'delivered' | 'read' | 'failed';
  /** Provider time of the status, ISO-8601. */
  readonly occurredAt: string;
  /** E.164 of the recipient, when the payload had one. */
  readonly recipientPhone?: string;
  /** Echo of what the sender set as `biz_opaque_callback_data`. */
  readonly bizOpaqueCallbackData?: string;
  readonly errors?: ReadonlyArray<{ readonly code?: number; readonly title?: string }>;
}

export interface ApplyStatusResult {
  /** The status belongs to a campaign recipient of this tenant. */
  readonly matched: boolean;
  /** The recipient moved forward because of it (false for duplicates and late, older statuses). */
  readonly applied: boolean;
}

/**
 * Whether `status` may replace `current`. Forward only (a late `sent` after `delivered` changes
 * nothing), except that the provider's word outranks our own verdicts: a contact we ended
 * `unknown` (no evidence in the window) or `failed` (e.g. a retry refused after a first attempt
 * whose answer was lost) moves to what the provider reports for its message. A `failed` status
 * only follows a send (`sending`, `sent`) or an `unknown` outcome; a provider `failed` is final.
 */
export function movesForward(
  current: RecipientStatus,
  status: WhatsAppStatusEvent['status'],
): boolean {
  if (current === 'skipped') return false;
  if (current === 'unknown') return true;
  if (current === 'failed') return status !== 'failed';
  if (status === 'failed') return current === 'sending' || current === 'sent';
  return STATUS_RANK[status] > STATUS_RANK[current];
}

/** The recipient by the echoed callback data (which names it), else by the wamid. */
async function findRecipient(
  deps: Pick<CampaignDeps, 'store'>,
  event: WhatsAppStatusEvent,
): Promise<RecipientItem | undefined> {
  const echo = decodeCallbackData(event.bizOpaqueCallbackData);
  if (echo) {
    const item = await deps.store.recipients.get({ tenantId: event.tenantId, ...echo });
    if (item) return item;
  }
  return deps.store.recipients.findByWamid(event.tenantId, event.phoneNumberId, event.wamid);
}

const MAX_RACES = 6;

export async function applyCampaignStatus(
  deps: CampaignDeps,
  event: WhatsAppStatusEvent,
): Promise<ApplyStatusResult> {
  let recipient = await findRecipient(deps, event);
  if (!recipient) return { matched: false, applied: false };
  for (let race = 0; race < MAX_RACES && recipient; race++) {
    if (recipient.providerMessageId && recipient.providerMessageId !== event.wamid) {
      // Evidence of a second message to one contact: never applied, always visible.
      countMetric('CampaignStatusWamidMismatch');
      return { matched: true, applied: false };
    }
    if (!movesForward(recipient.status, event.status)) {
      // A repeated (or late, older) status: the recipient already stands at or past it.
      countMetric('DuplicateSuppressed');
      logger.info('duplicate suppressed', {
        dedupeKey: `${event.wamid}|${event.status}`,
        campaignId: recipient.campaignId,
      });
      return { matched: true, applied: false };
    }
    const firstError = event.errors?.[0];
    const applied = await deps.store.recipients.applyStatus(recipient, {
      to: event.status,
      phoneNumberId: event.phoneNumberId,
      wamid: event.wamid,
      statusAt: event.occurredAt,
      at: isoTime(deps.clock),
      ...(event.status === 'failed'
        ? {
            lastError: `${firstError?.code ?? 'failed'}: ${firstError?.title ?? 'reported failed by WhatsApp'}`,
          }
        : {}),
    });
    if (applied) {
      if (recipient.status === 'sending' || recipient.status === 'pending') {
        countMetric('CampaignOutcomeReconciled');
      }
      if (recipient.status === 'unknown' || recipient.status === 'failed') {
        countMetric('CampaignLateEvidenceApplied');
      }
      failpoint(FP_STATUS_AFTER_APPLY);
      return { matched: true, applied: true };
    }
    // Someone moved it meanwhile (the sender storing the wamid, another status): look again.
    recipient = await deps.store.recipients.get(recipient);
  }
  return { matched: recipient !== undefined, applied: false };
}
