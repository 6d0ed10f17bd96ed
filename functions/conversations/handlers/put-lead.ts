/**
 * Trigger: HTTP API `PUT /v1/leads/{leadId}` (operator key). Creates or updates a lead and attaches
 * (and merges) the conversations of its phones. Idempotent by nature: a retry finds everything done.
 */
import * as z from 'zod';
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { conversationsDeps } from '../deps.js';
import { putLead } from '../leads.js';

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
  const result = await putLead(
    { ...conversationsDeps(), tenants: tenantStore() },
    tenantId,
    leadId,
    body,
  );
  return {
    status: 200,
    body: {
      leadId,
      phones: result.phones,
      ...(result.emails ? { emails: result.emails } : {}),
      ...(result.linkedin ? { linkedin: result.linkedin } : {}),
      conversationId: result.conversationId,
      merged: result.merged,
      created: result.created,
    },
  };
});
