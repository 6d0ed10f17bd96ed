/** The health context's composition root. */
import { ddb } from '../kernel/clients.js';
import { tableName } from '../kernel/config.js';
import { DynamoDbStoreProbe, type StoreProbe } from './store-probe.js';

let probe: StoreProbe | undefined;

export function healthDeps(): { readonly probe: StoreProbe } {
  probe ??= new DynamoDbStoreProbe(ddb, tableName('tenants'));
  return { probe };
}
