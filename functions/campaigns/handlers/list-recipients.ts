/**
 * Trigger: HTTP API `GET /v1/campaigns/{campaignId}/recipients?status=&cursor=&limit=` (operator
 * key): the recipients, strongly consistent with the totals.
 */

import { httpHandler, parseWith, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { campaignDeps } from '../deps.js';
import { listRecipients } from '../recipient-pages.js';
import { listQuerySchema } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const campaignId = pathParam(request, 'campaignId');
  const query = parseWith(listQuerySchema, request.query, 'query');
  const page = await listRecipients(campaignDeps(), tenantId, campaignId, {
    limit: query.limit,
    ...(query.status ? { status: query.status } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return { status: 200, body: page };
});
