/** The health context's public surface. */
export { checkHealth, type HealthAnswer } from './health.js';
export { checkProviderVersions, type VersionReport } from './provider-versions-check.js';
export { DynamoDbStoreProbe, type StoreProbe } from './store-probe.js';
