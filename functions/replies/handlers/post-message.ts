/**
 * Trigger: HTTP API `POST /v1/messages` (operator key, `Idempotency-Key` required) → 202
 * `{"messageId", "status": "queued"}`: a message to a person by phone or lead, in their one
 * conversation, found (or, for a phone never seen, created) by the inbound identity rules.
 * LinkedIn and e-mail targets are the Unipile channel's (422 `channel_unavailable` until it is set up).
 */
import { InvalidRequestError, NotFoundError } from '../../kernel/errors.js';
import { header, httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { toE164 } from '../../kernel/phone.js';
import { authenticate, tenantStore } from '../../tenants/index.js';
import { replyDeps, tenantChannels } from '../deps.js';
import { replyIdFor } from '../items.js';
import { createMessageTo, UnprocessableError } from '../reply-store.js';
import { newMessageSchema } from '../schemas.js';

const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const key = header(request, 'idempotency-key');
  if (!key) {
    throw new InvalidRequestError('A message needs an Idempotency-Key header.', [
      { field: 'Idempotency-Key', message: 'is required' },
    ]);
  }
  const { to, ...body } = parseJsonBody(request, newMessageSchema);
  const tenant = await tenantStore().get(tenantId);
  if (!tenant) throw new NotFoundError('The tenant of this key no longer exists.');
  const deps = replyDeps();
  let target: { leadId: string } | { e164: string };
  if ('leadId' in to) target = { leadId: to.leadId };
  else if ('phone' in to) {
    const e164 = toE164(to.phone, tenant.defaultCountry);
    if (!e164) {
      throw new InvalidRequestError('The phone number is not valid.', [
        { field: 'to.phone', message: 'is not a phone number' },
      ]);
    }
    target = { e164 };
  } else {
    throw new UnprocessableError(
      'channel_unavailable',
      'This tenant has no LinkedIn or e-mail channel set up.',
    );
  }
  const result = await createMessageTo(deps, {
    tenantId,
    target,
    messageId: replyIdFor(tenantId, key),
    request: body,
    channels: tenantChannels(tenant),
  });
  return { status: 202, body: { messageId: result.messageId, status: result.status } };
});
