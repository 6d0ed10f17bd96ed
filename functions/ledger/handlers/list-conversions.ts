/** Trigger: HTTP API `GET /v1/conversions?userId=&type=&source=&cursor=&limit=` (operator key). */
import { httpHandler } from '../../kernel/http.js';
import { listConversions } from '../conversions.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { conversionQuery } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const query = conversionQuery(request);
  return { status: 200, body: await listConversions(ledgerDeps().store, tenantId, query) };
});
