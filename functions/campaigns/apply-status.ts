/**
 * Applies a WhatsApp Cloud API status (from the inbound webhook) to the campaign recipient it
 * belongs to. Placeholder interface: the campaigns context implements it (issue: campaign sends).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../kernel/clock.js';

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

export async function applyCampaignStatus(
  _ddb: DynamoDBDocumentClient,
  _clock: Clock,
  _event: WhatsAppStatusEvent,
): Promise<ApplyStatusResult> {
  return { matched: false, applied: false };
}
