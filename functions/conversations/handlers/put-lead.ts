/**
 * Trigger: HTTP API `PUT /v1/leads/{leadId}` (operator key). Creates or updates a lead and attaches
 * (and merges) the conversations of its phones. Idempotent by nature: a retry finds everything done.
 */
import * as z from 'zod';
import { InvalidRequestError, NotFoundError } from '../../kernel/errors.js';
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { toE164 } from '../../kernel/phone.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { attachLead } from '../conversation-store.js';
import { conversationsDeps } from '../deps.js';

export const leadSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    phones: z.array(z.string().min(1).max(64)).max(20).default([]),
    /** E-mail addresses: their conversations (Unipile mail) are the lead's. */
    emails: z.array(z.email().max(320)).max(20).optional(),
    /** LinkedIn provider ids (Unipile's `attendee_provider_id`, `ACoAA…`): the same. */
    linkedin: z
      .array(z.string().trim().min(1).max(256).regex(/^\S+$/, 'must be a LinkedIn provider id'))
      .max(20)
      .optional(),
  })
  .strict()
  .refine(
    (lead) => lead.phones.length + (lead.emails?.length ?? 0) + (lead.linkedin?.length ?? 0) > 0,
    {
      message: 'a lead needs at least one phone, e-mail address or LinkedIn id',
      path: ['phones'],
    },
  );

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const leadId = pathParam(request, 'leadId');
  const body = parseJsonBody(request, leadSchema);
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError('No such tenant.');
  const phones = body.phones.map((raw) => toE164(raw, tenant.defaultCountry));
  const bad = phones.flatMap((p, i) =>
    p ? [] : [{ field: `phones.${i}`, message: 'is not a valid phone number' }],
  );
  if (bad.length > 0)
    throw new InvalidRequestError('Some phones are not valid phone numbers.', bad);
  const result = await attachLead(conversationsDeps(), tenantId, leadId, {
    ...(body.name !== undefined ? { name: body.name } : {}),
    phones: phones as string[],
    ...(body.emails ? { emails: body.emails } : {}),
    ...(body.linkedin ? { linkedin: body.linkedin } : {}),
  });
  return {
    status: 200,
    body: {
      leadId,
      phones,
      ...(body.emails ? { emails: body.emails.map((e) => e.toLowerCase()) } : {}),
      ...(body.linkedin ? { linkedin: body.linkedin } : {}),
      conversationId: result.conversationId,
      merged: result.merged,
      created: result.created,
    },
  };
});
