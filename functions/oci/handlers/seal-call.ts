/** Trigger: HTTP API `POST /v1/calls/{callId}/seal` (operator key): the session's one conversion. */

import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate } from '../../tenants/index.js';
import { sealCall } from '../calls.js';
import { ociContext } from '../deps.js';
import { idParam, sealSchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const callId = idParam(request, 'callId');
  const body = parseJsonBody(request, sealSchema);
  return { status: 200, body: await sealCall(ociContext(), tenantId, callId, body) };
});
