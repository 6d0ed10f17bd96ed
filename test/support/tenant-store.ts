/**
 * The tenant store as tests and benches set tenants up: the deployment's tenants table (named by the
 * environment the integration setup or the bench runtime gives), on the clock the test drives.
 */
import { ddb } from '../../functions/kernel/clients.js';
import { type Clock, systemClock } from '../../functions/kernel/clock.js';
import { tableName } from '../../functions/kernel/config.js';
import { DynamoDbTenantStore } from '../../functions/tenants/index.js';

export function testTenantStore(clock: Clock = systemClock): DynamoDbTenantStore {
  return new DynamoDbTenantStore(ddb, tableName('tenants'), clock);
}
