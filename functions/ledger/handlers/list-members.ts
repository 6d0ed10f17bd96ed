/** Trigger: HTTP API `GET /v1/work-queues/{queueType}/members?cursor=&limit=` (operator key). */
import { httpHandler } from '../../kernel/http.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { listMembers } from '../membership.js';
import { cursorQuery, ledgerPathParam, pageLimitQuery } from '../schemas.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const queueType = ledgerPathParam(request, 'queueType');
  return {
    status: 200,
    body: await listMembers(
      ledgerDeps(),
      tenantId,
      queueType,
      cursorQuery(request),
      pageLimitQuery(request),
    ),
  };
});
