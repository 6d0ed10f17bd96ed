/** Trigger: HTTP API `GET /v1/conversations` (operator key): the tenant's conversations, most recent first. */

import { httpHandler } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { pageLimit } from '../conversation-store.js';
import { conversationsDeps } from '../deps.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const page = await conversationsDeps().store.listConversations(tenantId, {
    ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
    limit: pageLimit(request.query.limit),
  });
  return { status: 200, body: page };
});
