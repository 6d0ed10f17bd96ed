/**
 * Trigger: HTTP API `GET /v1/conversions/missing` (operator key): what the reconciliation would
 * log now for this tenant. A dry run: writes nothing.
 */
import { httpHandler } from '../../kernel/http.js';
import { ledgerDeps, operatorTenant } from '../deps.js';
import { listMissingConversions } from '../sweeps.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await operatorTenant(request);
  const deps = ledgerDeps();
  return {
    status: 200,
    body: await listMissingConversions(deps, tenantId, deps.reconcileWindowSeconds),
  };
});
