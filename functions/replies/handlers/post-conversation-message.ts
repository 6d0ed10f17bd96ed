/**
 * Trigger: HTTP API `POST /v1/conversations/{conversationId}/messages` (operator key,
 * `Idempotency-Key` required) → 202 `{"messageId", "status": "queued"}`. The key names the reply
 * (`replyIdFor`), so a retry answers the same `messageId` whatever happened in between; the kernel's
 * key record replays the first answer while it lives.
 */
import { InvalidRequestError, NotFoundError } from '../../kernel/errors.js';
import { header, httpHandler, parseJsonBody, pathParam } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { replyDeps, tenantChannels } from '../deps.js';
import { replyIdFor } from '../items.js';
import { createReply } from '../reply-store.js';
import { replyBodySchema } from '../schemas.js';

const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const key = header(request, 'idempotency-key');
  if (!key) {
    throw new InvalidRequestError('A reply needs an Idempotency-Key header.', [
      { field: 'Idempotency-Key', message: 'is required' },
    ]);
  }
  const body = parseJsonBody(request, replyBodySchema);
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError('The tenant of this key no longer exists.');
  const result = await createReply(replyDeps(), {
    tenantId,
    conversationId: pathParam(request, 'conversationId'),
    messageId: replyIdFor(tenantId, key),
    request: body,
    channels: tenantChannels(tenant),
  });
  return { status: 202, body: { messageId: result.messageId, status: result.status } };
});
