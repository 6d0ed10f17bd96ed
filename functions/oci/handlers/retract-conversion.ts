/** Trigger: HTTP API `POST /v1/conversions/oci/{conversionId}/retract` (operator key). Idempotent. */

import { systemClock } from '../../kernel/clock.js';
import { httpHandler } from '../../kernel/http.js';
import { idempotencyKeyed } from '../../kernel/idempotency-key.js';
import { authenticate } from '../../tenants/index.js';
import { ociStore } from '../deps.js';
import { retractConversion } from '../retraction.js';
import { idParam } from '../schemas.js';

/** The contract's `Idempotency-Key`, scoped to the caller's tenant. */
const idempotencyKey = idempotencyKeyed((request) => authenticate(request, 'api'));

export const handler = httpHandler({ idempotencyKey }, async (request) => {
  const tenantId = await authenticate(request, 'api');
  const conversionId = idParam(request, 'conversionId');
  const answer = await retractConversion(
    { store: ociStore(), clock: systemClock },
    tenantId,
    conversionId,
  );
  return { status: 202, body: answer };
});
