/**
 * The campaigns context's public surface: the only file other contexts may import from. The
 * webhooks context applies WhatsApp statuses to campaign recipients through it.
 */
export {
  type ApplyStatusResult,
  applyCampaignStatus,
  movesForward,
  type WhatsAppStatusEvent,
} from './apply-status.js';
export { campaignListPartition } from './campaign-listing.js';
export type { UnknownOutcomePolicy } from './model.js';
export {
  CAMPAIGN_STATUSES,
  campaignMetaScanFilter,
  decodeCallbackData,
  encodeCallbackData,
  RECIPIENT_STATUSES,
  type RecipientStatus,
} from './model.js';
export {
  assertSafeReconcileWindow,
  campaignSettings,
  reconcileWindowProblem,
} from './settings.js';
