/** The conversations context's public surface: the only file other contexts import from. */
export {
  type ConversationStore,
  DynamoDbConversationStore,
} from './conversation-store.js';
export { conversationsDeps, inboundDeps } from './deps.js';
export {
  conversationKey,
  identifyPerson,
  isIdentified,
  type PersonIdentity,
  parseWhatsAppId,
} from './identity.js';
export { conversationIdFor, messageKey, messagePk } from './keys.js';
export { matchLead } from './lead-match.js';
export {
  type ConversationsStoreContext,
  foldConversations,
  foldLinkedAliases,
} from './merge.js';
export {
  advanceLastMessageAt,
  ClaimLostError,
  type InboundDeps,
  type IncomingMessage,
  type MessageClaim,
  messageIdFor,
  type StoreResult,
  storeMessage,
} from './store-message.js';
