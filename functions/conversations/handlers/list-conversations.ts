/** Trigger: HTTP API `GET /v1/conversations` (operator key): the tenant's conversations, most recent first. */

import { ddb } from '../../kernel/clients.js';
import { tableName } from '../../kernel/config.js';
import { httpHandler } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { listConversations, pageLimit } from '../conversation-store.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const page = await listConversations(ddb, tableName('inbound'), tenantId, {
    ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
    limit: pageLimit(request.query.limit),
  });
  return { status: 200, body: page };
});
