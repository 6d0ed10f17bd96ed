/**
 * The step every WhatsApp webhook shares for one message: identify the sender from the ids the
 * payload shows, count an unparseable sender as `invalid`, else store the message once and count it
 * `stored` or `deduped`.
 */
import {
  type InboundDeps,
  type IncomingMessage,
  identifyPerson,
  isIdentified,
  type PersonIdentity,
  storeMessage,
} from '../conversations/index.js';
import type { Tenant } from '../tenants/index.js';
import type { OutcomeTally } from './outcomes.js';

/** The message as the payload gives it, or the reason it belongs to no conversation. */
export type SenderMessage =
  | Omit<IncomingMessage, 'tenantId' | 'person'>
  | { readonly unroutable: string };

export async function fileMessageFrom(
  deps: InboundDeps,
  tally: OutcomeTally,
  tenant: Tenant,
  senderIds: readonly unknown[],
  messageOf: (person: PersonIdentity) => SenderMessage,
): Promise<void> {
  const person = identifyPerson(senderIds, { defaultCountry: tenant.defaultCountry });
  return filePersonMessage(deps, tally, tenant, person, messageOf);
}

/** The same step for a person the payload already identifies (e.g. a Unipile alias). */
export async function filePersonMessage(
  deps: InboundDeps,
  tally: OutcomeTally,
  tenant: Tenant,
  person: PersonIdentity | undefined,
  messageOf: (person: PersonIdentity) => SenderMessage,
): Promise<void> {
  if (!person || !isIdentified(person)) {
    tally.record('invalid', 'unparseable_sender', { tenantId: tenant.tenantId });
    return;
  }
  const message = messageOf(person);
  if ('unroutable' in message) {
    tally.record('unroutable', message.unroutable, { tenantId: tenant.tenantId });
    return;
  }
  const result = await storeMessage(deps, { ...message, tenantId: tenant.tenantId, person });
  tally.record(result.deduped ? 'deduped' : 'stored', 'message', {
    tenantId: tenant.tenantId,
    messageId: result.messageId,
  });
}
