/**
 * Applies a WhatsApp Cloud API status (from the inbound webhook, `POST /webhooks/whatsapp`) to the
 * campaign recipient it belongs to.
 *
 * The recipient is found by the echoed `biz_opaque_callback_data` (which names campaign and
 * contact, so it also completes a send whose answer was lost: `sending` with no wamid), else by
 * the wamid index. Statuses only move a recipient forward (pending < sending < sent < delivered <
 * read; a provider `failed` follows sending or sent), each move a guarded transition with its
 * counters in the same transaction, so duplicates and late statuses change nothing. Late evidence
 * moves a recipient we ended `unknown` or `failed` to what the provider reports.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Clock, isoTime } from '../kernel/clock.js';
import { tableName } from '../kernel/config.js';
import { failpoint } from '../kernel/failpoints.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import { countedTransition, counterWrite, moveDeltas } from './counters.js';
import { FP_STATUS_AFTER_APPLY } from './failpoints.js';
import {
  decodeCallbackData,
  type RecipientItem,
  type RecipientStatus,
  recipientKey,
  STATUS_RANK,
  shardOf,
  tenantRecipientsPrefix,
  wamidIndexKey,
} from './model.js';
import { readRecipient } from './sender.js';

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

async function findRecipient(
  ddb: DynamoDBDocumentClient,
  table: string,
  event: WhatsAppStatusEvent,
): Promise<RecipientItem | undefined> {
  const echo = decodeCallbackData(event.bizOpaqueCallbackData);
  if (echo) {
    const item = await readRecipient(
      ddb,
      table,
      recipientKey(event.tenantId, echo.campaignId, echo.phone),
    );
    if (item) return item;
  }
  const out = await ddb.send(
    new QueryCommand({
      TableName: table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :w',
      ExpressionAttributeValues: { ':w': wamidIndexKey(event.phoneNumberId, event.wamid) },
      Limit: 2,
    }),
  );
  // The index holds keys only; the tenant is in the recipient's partition key.
  const tenantPrefix = tenantRecipientsPrefix(event.tenantId);
  const hit = (out.Items ?? []).find(
    (item) => typeof item.pk === 'string' && item.pk.startsWith(tenantPrefix),
  );
  return hit ? readRecipient(ddb, table, { pk: String(hit.pk), sk: String(hit.sk) }) : undefined;
}

const MAX_RACES = 6;

export async function applyCampaignStatus(
  ddb: DynamoDBDocumentClient,
  clock: Clock,
  event: WhatsAppStatusEvent,
): Promise<ApplyStatusResult> {
  const table = tableName('campaigns');
  let recipient = await findRecipient(ddb, table, event);
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
    const now = isoTime(clock);
    const firstError = event.errors?.[0];
    const result = await countedTransition(ddb, {
      table,
      key: { pk: recipient.pk, sk: recipient.sk },
      from: [recipient.status],
      to: event.status,
      set: {
        providerMessageId: event.wamid,
        gsi1pk: wamidIndexKey(event.phoneNumberId, event.wamid),
        gsi1sk: 'R',
        statusAt: event.occurredAt,
        updatedAt: now,
        ...(event.status === 'failed'
          ? {
              lastError: `${firstError?.code ?? 'failed'}: ${firstError?.title ?? 'reported failed by WhatsApp'}`,
            }
          : {}),
      },
      remove: [
        LEASE_OWNER,
        LEASE_EXPIRES_AT,
        'sweepPk',
        'sweepAt',
        'retryAt',
        ...(event.status === 'failed' ? [] : ['lastError']),
      ],
      also: {
        expression: 'attribute_not_exists(#pmid) OR #pmid = :wamid',
        names: { '#pmid': 'providerMessageId' },
        values: { ':wamid': event.wamid },
      },
      with: [
        counterWrite(
          table,
          recipient.tenantId,
          recipient.campaignId,
          shardOf(recipient.phone),
          moveDeltas(recipient.status, event.status),
        ),
      ],
    });
    if (result.applied) {
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
    recipient = await readRecipient(ddb, table, { pk: recipient.pk, sk: recipient.sk });
  }
  return { matched: recipient !== undefined, applied: false };
}
