/**
 * Trigger: HTTP API `PUT /v1/leads/{leadId}` (operator key). Creates or updates a lead and attaches
 * (and merges) the conversations of its phones. Idempotent by nature: a retry finds everything done.
 */
import { httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import * as z from '../../kernel/zod.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { conversationsDeps } from '../deps.js';
import { putLead } from '../leads.js';

export const leadSchema = z
  .strictObject({
    name: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(200))),
    phones: z._default(
      z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(z.maxLength(20)),
      [],
    ),
    /** E-mail addresses: their conversations (Unipile mail) are the lead's. */
    emails: z.optional(z.array(z.email().check(z.maxLength(320))).check(z.maxLength(20))),
    /** LinkedIn provider ids (Unipile's `attendee_provider_id`, `ACoAA…`): the same. */
    linkedin: z.optional(
      z
        .array(
          z
            .string()
            .check(
              z.trim(),
              z.minLength(1),
              z.maxLength(256),
              z.regex(/^\S+$/, 'must be a LinkedIn provider id'),
            ),
        )
        .check(z.maxLength(20)),
    ),
  })
  .check(
    z.refine(
      (lead) => lead.phones.length + (lead.emails?.length ?? 0) + (lead.linkedin?.length ?? 0) > 0,
      {
        message: 'a lead needs at least one phone, e-mail address or LinkedIn id',
        path: ['phones'],
      },
    ),
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
