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
  campaignMetaScanFilter,
  decodeCallbackData,
  encodeCallbackData,
  type RecipientStatus,
} from './model.js';
export {
  assertSafeReconcileWindow,
  campaignSettings,
  reconcileWindowProblem,
} from './settings.js';
// Replies (`functions/replies`) send WhatsApp Cloud messages with the same Graph client.
export {
  createWhatsAppClient,
  type SendResult,
  type WhatsAppSender,
  whatsappApiBaseUrl,
  whatsappApiVersion,
} from './whatsapp-client.js';
