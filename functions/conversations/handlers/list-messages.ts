/**
 * Trigger: HTTP API `GET /v1/conversations/{conversationId}/messages` (operator key), oldest first.
 * Another tenant's conversation is 404; a conversation merged into another answers with the
 * survivor's messages.
 */

import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { pageLimit } from '../conversation-store.js';
import { conversationsDeps } from '../deps.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const { store } = conversationsDeps();
  let conversationId = pathParam(request, 'conversationId');
  for (let hop = 0; ; hop++) {
    const conversation = await store.getConversation(conversationId);
    if (!conversation || conversation.tenantId !== tenantId || hop > 3) {
      throw new NotFoundError('No such conversation.');
    }
    if (conversation.mergedInto === undefined) break;
    conversationId = conversation.mergedInto;
  }
  const page = await store.listMessages(conversationId, {
    ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
    limit: pageLimit(request.query.limit),
  });
  return { status: 200, body: page };
});
