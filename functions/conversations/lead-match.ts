/**
 * `lead_match`, owned by conversations: folds the conversations held under the message's aliases
 * into the phone's, then attaches the conversation to the lead owning the phone, if any.
 */

import type { JobWork, WorkDone } from '../jobs/index.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import type { ConversationStore } from './conversation-store.js';
import { conversationKey, type MessageItem } from './items.js';
import { type ConversationsStoreContext, foldConversations, foldLinkedAliases } from './merge.js';

export const AFTER_LEAD_ATTACH = defineFailpoint(
  'jobs.lead_match.after-attach',
  'lead_match: the conversation is attached to the lead, the job not yet done',
);

export function matchLead(
  deps: ConversationsStoreContext & { readonly store: ConversationStore },
): JobWork<MessageItem> {
  return async (message): Promise<WorkDone> => {
    const { e164, tenantId } = message;
    if (!e164) return { result: { matched: false, reason: 'no_phone' } };
    const phoneKey = conversationKey(tenantId, { e164 });
    // Messages that arrived under an alias before any payload linked it sit in an alias conversation.
    const folded = await foldLinkedAliases(deps, tenantId, e164, message.aliases);
    const lead = await deps.store.leadForPhone(tenantId, e164);
    if (!lead) return { result: { matched: false, folded } };
    const { conversationId, merged } = await foldConversations(deps, tenantId, {
      leadId: lead.leadId,
      ...(lead.name !== undefined ? { leadName: lead.name } : {}),
      keys: [phoneKey],
      e164,
    });
    failpoint(AFTER_LEAD_ATTACH);
    return { result: { matched: true, leadId: lead.leadId, conversationId, merged, folded } };
  };
}
