/** Trigger: HTTP API `GET /v1/conversions/oci` (operator key): newest first, by status. */

import { httpHandler, parseWith } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { ociStore } from '../deps.js';
import { listQuerySchema } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const query = parseWith(listQuerySchema, request.query, 'query');
  // A cursor of another listing is refused by the store (the kernel's cursor codec): a 400.
  const page = await ociStore().listConversions(tenantId, query.status, query.cursor);
  return {
    status: 200,
    body: {
      conversions: page.conversions.map((c) => ({
        conversionId: c.conversionId,
        orderId: c.orderId,
        sessionId: c.sessionId,
        callId: c.callId,
        status: c.status,
        attempts: c.attempts,
        claimedAt: c.claimedAt ?? null,
        lastError: c.lastError ?? null,
        retractedAt: c.retractedAt ?? null,
        jobId: c.jobId ?? null,
      })),
      nextCursor: page.nextCursor,
    },
  };
});
