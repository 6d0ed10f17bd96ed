/**
 * Trigger: HTTP API `GET /oci/google-ads-export` (export token): claims due rows for the Google
 * Ads script, as JSON or Google's CSV; `?kind=adjustments` for retractions.
 */

import { httpHandler, parseWith } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { exportDeps } from '../deps.js';
import { exportQuerySchema } from '../schemas.js';
import { CSV_TIME_ZONE, exportCsv, exportRows } from '../script-export.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'export');
  const query = parseWith(exportQuerySchema, request.query, 'query');
  const answer = await exportRows(exportDeps(), tenantId, query.kind, query.limit);
  if (query.format === 'csv') {
    return {
      status: 200,
      body: exportCsv(answer),
      headers: { 'content-type': 'text/csv; charset=utf-8', 'x-oci-claim-id': answer.claimId },
    };
  }
  return {
    status: 200,
    body: { rows: answer.rows, claimId: answer.claimId, timeZone: CSV_TIME_ZONE },
  };
});
