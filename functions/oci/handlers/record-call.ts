/** Trigger: HTTP API `POST /v1/calls` (operator key). Idempotent by callId. */

import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate } from '../../tenants/index.js';
import { recordCall } from '../calls.js';
import { ociContext } from '../deps.js';
import { callSchema } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const body = parseJsonBody(request, callSchema);
  const clickKind = body.gclid ? 'gclid' : body.gbraid ? 'gbraid' : 'wbraid';
  const { created, call } = await recordCall(ociContext(), tenantId, {
    callId: body.callId,
    sessionId: body.sessionId,
    clickKind,
    clickId: (body.gclid ?? body.gbraid ?? body.wbraid) as string,
    occurredAt: body.occurredAt,
  });
  return {
    status: created ? 201 : 200,
    body: {
      callId: call.callId,
      sessionId: call.sessionId,
      [call.clickKind]: call.clickId,
      source: call.source,
      occurredAt: call.occurredAt,
    },
  };
});
