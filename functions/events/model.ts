/**
 * The event a platform receives for one committed effect (api.md, "Events out").
 *
 * This file is the seam between the two halves of the pipeline: the change-feed half turns stream
 * records of effect items into `OnceflowEvent`s, and the delivery half hands each event to every
 * endpoint of its tenant that subscribes to its type (`EventSink`). Neither half imports the other.
 */

export const EVENT_TYPES = [
  'message.received',
  'message.sent',
  'message.status',
  'conversation.merged',
  'campaign.recipient.finished',
  'campaign.completed',
  'oci.conversion.completed',
  'oci.conversion.failed',
  'oci.conversion.retracted',
  'ledger.conversion.logged',
  'endpoint.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** What `data` may hold: ids, statuses, counts and times a platform needs; never a secret or a body. */
export type EventDataValue = string | number | boolean | null;
export type EventData = Readonly<Record<string, EventDataValue>>;

export interface OnceflowEvent {
  /**
   * Derived from the effect's identity and the transition it records (never from the stream record
   * id or the time it was read), so a record seen twice, a batch retried or a replay yields the same
   * id. Standard Webhooks' `webhook-id`.
   */
  readonly eventId: string;
  readonly tenantId: string;
  readonly type: EventType;
  /**
   * Events of one entity (a conversation, a campaign recipient, a conversion) reach an endpoint in
   * the order they happened; this is that entity's key (opaque to the delivery half).
   */
  readonly entityKey: string;
  /** When the effect committed, as the effect's own item records it (ISO-8601 UTC). */
  readonly occurredAt: string;
  readonly data: EventData;
}

/** Accepts events for delivery; `failed` lists the ids it could not take (the batch item fails). */
export interface EventSink {
  accept(events: readonly OnceflowEvent[]): Promise<{ readonly failed: readonly string[] }>;
}
