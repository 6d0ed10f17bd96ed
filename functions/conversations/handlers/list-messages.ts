/**
 * Trigger: HTTP API `GET /v1/conversations/{conversationId}/messages` (operator key), oldest first.
 * Another tenant's conversation is 404; a conversation merged into another answers with the
 * survivor's messages.
 */

import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { messagesOf, pageLimit } from '../conversation-store.js';
import { conversationsDeps } from '../deps.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const page = await messagesOf(
    conversationsDeps().store,
    tenantId,
    pathParam(request, 'conversationId'),
    {
      ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
      limit: pageLimit(request.query.limit),
    },
  );
  return { status: 200, body: page };
});
