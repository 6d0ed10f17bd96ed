/** The conversion ledger's public surface: the only file other contexts may import from. */
export { type LedgerDeps, ledgerDeps } from './deps.js';
export type { ConversionFilter, LedgerStore } from './ledger-store.js';
export { DynamoDbLedgerStore } from './ledger-store.js';
export {
  BUILT_IN_WORK_QUEUES,
  CONVERSION_SOURCES,
  type ConversionItem,
  type ConversionSource,
  type EvidenceItem,
  type MemberItem,
} from './model.js';
export { reconcileConversions, sweepWorkQueues } from './sweeps.js';
