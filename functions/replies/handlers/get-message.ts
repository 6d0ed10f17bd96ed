/** Trigger: HTTP API `GET /v1/messages/{messageId}` (operator key): a reply and where it stands. */
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { replyReadDeps } from '../deps.js';
import { replyView } from '../items.js';
import { getReply } from '../reply-store.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const reply = await getReply(replyReadDeps(), tenantId, pathParam(request, 'messageId'));
  return { status: 200, body: replyView(reply) };
});
