/**
 * The campaigns context's public surface: what other contexts may import. (Minimal, created by the
 * inbound branch for the webhooks' status applier; the campaigns owner extends it.)
 */
export {
  type ApplyStatusResult,
  applyCampaignStatus,
  type WhatsAppStatusEvent,
} from './apply-status.js';
