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
    phones: z.array(z.string().min(1).max(64)).min(1).max(20),
  })
  .strict();

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
      conversationId: result.conversationId,
      merged: result.merged,
      created: result.created,
    },
  };
});
