/**
 * Trigger: HTTP API `POST /v1/messages/{messageId}/retry` (operator key) → 202: an operator's
 * explicit retry of a `failed` or `unknown` reply (recorded on it); 409 for any other state.
 */
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { replyDeps } from '../deps.js';
import { replyView } from '../items.js';
import { getReply, retryReply } from '../reply-store.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const messageId = pathParam(request, 'messageId');
  await retryReply(replyDeps(), tenantId, messageId);
  return { status: 202, body: replyView(await getReply(replyDeps(), tenantId, messageId)) };
});
