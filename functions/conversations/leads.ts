/**
 * `putLead`: the `PUT /v1/leads/{leadId}` domain call. The phones are read in the tenant's default
 * country (every phone must be one, else a 400 naming each bad one, nothing written), then the
 * lead's conversations are attached and merged (`attachLead`).
 */
import { InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import { toE164 } from '../kernel/phone.js';
import type { TenantStore } from '../tenants/index.js';
import { attachLead, type ConversationStore } from './conversation-store.js';
import type { ConversationsStoreContext } from './merge.js';

export interface PutLeadInput {
  readonly name?: string;
  /** As the operator wrote them. */
  readonly phones: readonly string[];
  /** E-mail addresses (Unipile mail): stored and matched lower-cased. */
  readonly emails?: readonly string[];
  /** LinkedIn provider ids (Unipile's `attendee_provider_id`). */
  readonly linkedin?: readonly string[];
}

export interface PutLeadResult {
  /** In E.164, in the order given. */
  readonly phones: string[];
  readonly emails?: string[];
  readonly linkedin?: string[];
  readonly conversationId: string;
  readonly merged: number;
  readonly created: boolean;
}

export async function putLead(
  deps: ConversationsStoreContext & {
    readonly store: ConversationStore;
    readonly tenants: Pick<TenantStore, 'get'>;
  },
  tenantId: string,
  leadId: string,
  input: PutLeadInput,
): Promise<PutLeadResult> {
  const tenant = await deps.tenants.get(tenantId);
  if (!tenant) throw new NotFoundError('No such tenant.');
  const parsed = input.phones.map((raw) => toE164(raw, tenant.defaultCountry));
  const bad = parsed.flatMap((p, i) =>
    p ? [] : [{ field: `phones.${i}`, message: 'is not a valid phone number' }],
  );
  if (bad.length > 0)
    throw new InvalidRequestError('Some phones are not valid phone numbers.', bad);
  const phones = parsed as string[];
  const result = await attachLead(deps, tenantId, leadId, {
    ...(input.name !== undefined ? { name: input.name } : {}),
    phones,
    ...(input.emails ? { emails: [...input.emails] } : {}),
    ...(input.linkedin ? { linkedin: [...input.linkedin] } : {}),
  });
  return {
    phones,
    ...(input.emails ? { emails: input.emails.map((e) => e.toLowerCase()) } : {}),
    ...(input.linkedin ? { linkedin: [...input.linkedin] } : {}),
    ...result,
  };
}
