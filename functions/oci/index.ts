/** The OCI context's public surface: what other contexts (and the tests' drivers) may import. */

export { uploadPending } from './api-upload.js';
export { type OciContext, recordCall, sealCall } from './calls.js';
export { classifyAck, classifyGoogleError } from './error-mapping.js';
export { ROW_STATUSES as OCI_ROW_STATUSES } from './items.js';
export type { Conversion, OciRow, RowStatus } from './model.js';
export { googleTime, orderIdFor } from './model.js';
export { retractConversion } from './retraction.js';
export { ackRows, exportCsv, exportRows } from './script-export.js';
export { ociSettings } from './settings.js';
export { recoverStaleRows } from './stale-recovery.js';
