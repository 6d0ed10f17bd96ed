/** The webhooks context's public surface: the only file other contexts and `lib/` import from. */
export { cloudMessageKey, dedupeKeys, gatewayMessageKey } from './items.js';
