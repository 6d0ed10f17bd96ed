/**
 * The change feed's adapter: what a stream image (an item as it stood before or after one write)
 * is, as a typed effect. Every effect item is recognised by what its own context writes in it,
 * never by taking its key apart: the conversations context's parsers (`toMessageItem`,
 * `toConversationItem`, `keys.conversation`), and for the contexts that keep no parser of their own
 * yet (campaigns, OCI, ledger) the `kind` attribute or the attributes only that item carries, read
 * with the kernel's `itemReader` (so a malformed image is a `MalformedItemError` naming the
 * attribute, never its value).
 *
 * This is the only file of the events context that sees a raw `Item`.
 */
import { CAMPAIGN_STATUSES, RECIPIENT_STATUSES, type RecipientStatus } from '../campaigns/index.js';
import {
  type ConversationItem,
  keys as conversationKeys,
  type MessageItem,
  toConversationItem,
  toMessageItem,
} from '../conversations/index.js';
import { itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import { CONVERSION_SOURCES, type ConversionSource } from '../ledger/index.js';
import { OCI_ROW_STATUSES } from '../oci/index.js';

export type { RecipientStatus };

const OCI_STATUSES = OCI_ROW_STATUSES;

export interface RecipientEffect {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly phone: string;
  readonly status: RecipientStatus;
  readonly attempts: number;
  readonly providerMessageId?: string;
  readonly updatedAt: string;
}

export interface CampaignEffect {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly status: (typeof CAMPAIGN_STATUSES)[number];
  readonly completedAt?: string;
}

export interface OciConversionEffect {
  readonly tenantId: string;
  readonly conversionId: string;
  readonly orderId: string;
  readonly callId: string;
  readonly sessionId: string;
  readonly status: (typeof OCI_STATUSES)[number];
  readonly completedAt?: string;
  readonly retractedAt?: string;
  readonly lastError?: string;
}

export interface LedgerConversionEffect {
  readonly tenantId: string;
  readonly conversionId: string;
  readonly userId: string;
  readonly type: string;
  readonly queueType: string;
  readonly stayId: string;
  readonly source: ConversionSource;
  readonly occurredAt: string;
  readonly loggedAt: string;
}

/** An image that is an effect's item; anything else (claims, counters, leases...) is `undefined`. */
export type EffectItem =
  | { readonly kind: 'message'; readonly item: MessageItem }
  | { readonly kind: 'conversation'; readonly item: ConversationItem }
  | { readonly kind: 'recipient'; readonly item: RecipientEffect }
  | { readonly kind: 'campaign'; readonly item: CampaignEffect }
  | { readonly kind: 'ociConversion'; readonly item: OciConversionEffect }
  | { readonly kind: 'ledgerConversion'; readonly item: LedgerConversionEffect };

export function readEffectItem(image: Item | undefined): EffectItem | undefined {
  if (image === undefined) return undefined;
  const message = toMessageItem(image);
  if (message) return { kind: 'message', item: message };
  if (isConversation(image)) return { kind: 'conversation', item: toConversationItem(image) };
  switch (image.kind) {
    case 'recipient':
      return { kind: 'recipient', item: readRecipient(image) };
    case 'campaign':
      return { kind: 'campaign', item: readCampaign(image) };
    case 'conversion':
      // An OCI conversion row (its retraction row is `adjustment`).
      if (typeof image.orderId === 'string') {
        return { kind: 'ociConversion', item: readOciConversion(image) };
      }
      return undefined;
    default:
      return isLedgerConversion(image)
        ? { kind: 'ledgerConversion', item: readLedgerConversion(image) }
        : undefined;
  }
}

/** A `CONV` item of the conversations context: its key is the one its id names. */
function isConversation(image: Item): boolean {
  if (typeof image.conversationId !== 'string') return false;
  const key = conversationKeys.conversation(image.conversationId);
  return image.pk === key.pk && image.sk === key.sk;
}

/** The ledger's conversion item: the only ledger item with a conversion id, a stay and a log time. */
function isLedgerConversion(image: Item): boolean {
  return (
    typeof image.conversionId === 'string' &&
    typeof image.stayId === 'string' &&
    typeof image.loggedAt === 'string' &&
    typeof image.evidenceId === 'string'
  );
}

function readRecipient(image: Item): RecipientEffect {
  const r = itemReader(image, 'campaign recipient');
  return {
    tenantId: r.string('tenantId'),
    campaignId: r.string('campaignId'),
    phone: r.string('phone'),
    status: r.oneOf('status', RECIPIENT_STATUSES),
    attempts: r.numberOr('attempts', 0),
    updatedAt: r.string('updatedAt'),
    ...withoutAbsent({ providerMessageId: r.optionalString('providerMessageId') }),
  };
}

function readCampaign(image: Item): CampaignEffect {
  const r = itemReader(image, 'campaign');
  return {
    tenantId: r.string('tenantId'),
    campaignId: r.string('campaignId'),
    status: r.oneOf('status', CAMPAIGN_STATUSES),
    ...withoutAbsent({ completedAt: r.optionalString('completedAt') }),
  };
}

function readOciConversion(image: Item): OciConversionEffect {
  const r = itemReader(image, 'OCI conversion');
  return {
    tenantId: r.string('tenantId'),
    conversionId: r.string('conversionId'),
    orderId: r.string('orderId'),
    callId: r.string('callId'),
    sessionId: r.string('sessionId'),
    status: r.oneOf('status', OCI_STATUSES),
    ...withoutAbsent({
      completedAt: r.optionalString('completedAt'),
      retractedAt: r.optionalString('retractedAt'),
      lastError: r.optionalString('lastError'),
    }),
  };
}

function readLedgerConversion(image: Item): LedgerConversionEffect {
  const r = itemReader(image, 'ledger conversion');
  return {
    tenantId: r.string('tenantId'),
    conversionId: r.string('conversionId'),
    userId: r.string('userId'),
    type: r.string('type'),
    queueType: r.string('queueType'),
    stayId: r.string('stayId'),
    source: r.oneOf('source', CONVERSION_SOURCES),
    occurredAt: r.string('occurredAt'),
    loggedAt: r.string('loggedAt'),
  };
}
