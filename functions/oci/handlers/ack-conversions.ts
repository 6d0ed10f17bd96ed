/** Trigger: HTTP API `POST /oci/ack` (export token): Google's answers for exported rows. */

import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { exportDeps } from '../deps.js';
import { ackSchema } from '../schemas.js';
import { ackRows } from '../script-export.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'export');
  const body = parseJsonBody(request, ackSchema);
  const kind = request.query.kind === 'adjustments' ? 'adjustments' : body.kind;
  return { status: 200, body: await ackRows(exportDeps(), tenantId, kind, body.results) };
});
