/** The conversations context's public surface: the only file other contexts (and `lib/`) import from. */
export {
  attachLead,
  type ConversationStore,
  DynamoDbConversationStore,
} from './conversation-store.js';
export {
  conversationsDeps,
  inboundDeps,
  jobDeps,
  messageJobStore,
  recoveryDeps,
} from './deps.js';
export {
  aliasPerson,
  identifyPerson,
  isIdentified,
  type PersonIdentity,
  type ProviderNetwork,
  parseWhatsAppId,
} from './identity.js';
export {
  type ConversationItem,
  conversationIdFor,
  conversationKey,
  type Key,
  keys,
  LISTING_SHARDS,
  MESSAGE_CHANNELS,
  type MessageChannel,
  type MessageItem,
  memberItem,
  type PersonItem,
  parseConversationKey,
  personItemsScan,
  type ReplyAddress,
  toConversationItem,
  toMessageItem,
  toPersonItem,
} from './items.js';
export { matchLead } from './lead-match.js';
export {
  type ConversationsStoreContext,
  foldConversations,
  foldLinkedAliases,
} from './merge.js';
export {
  advanceOutboundStatus,
  applyOutboundStatus,
  conversationForTarget,
  movesOutboundForward,
  OUTBOUND_STATUSES,
  type OutboundStatus,
  type ProviderStatus,
  REPLY_ID,
  recordOutboundSent,
} from './outbound.js';
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
