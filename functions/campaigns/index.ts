/**
 * The campaigns context's public surface: the only file other contexts (and `lib/`, `bin/`) may
 * import from. The webhooks context applies WhatsApp statuses to campaign recipients through it;
 * the operators' tools read campaigns through its store and keys.
 */
export {
  type ApplyStatusResult,
  movesForward,
  type WhatsAppStatusEvent,
} from './apply-status.js';
export { type CampaignStore, dynamoCampaignStore } from './campaign-store.js';
export { FOLD_LAG_BOUND_SECONDS } from './counter-fold.js';
export { type CampaignRepair, repairCampaignCounters } from './counter-repair.js';
export { applyWhatsAppStatus } from './deps.js';
export { keys as campaignKeys } from './items.js';
export type { UnknownOutcomePolicy } from './model.js';
export {
  CAMPAIGN_STATUSES,
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
// Replies (`functions/replies`) send WhatsApp Cloud messages with the same Graph client.
export {
  createWhatsAppClient,
  type SendResult,
  type WhatsAppSender,
  whatsappApiBaseUrl,
  whatsappApiVersion,
} from './whatsapp-client.js';
