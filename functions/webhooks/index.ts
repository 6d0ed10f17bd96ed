/** The webhooks context's public surface: the only file other contexts and `lib/` import from. */
export { MESSAGE_PROVIDERS, type MessageProvider, messageKeys } from './items.js';
