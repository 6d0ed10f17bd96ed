/**
 * The logical names of onceflow's tables, queues and secrets, and the environment variables that
 * carry their physical names. Owned by the kernel (which reads them at run time, `config.ts`) and
 * imported by `lib/manifest.ts` (which declares the resources and sets the variables): the kernel
 * never imports `lib/`.
 */

export type TableName =
  | 'tenants'
  | 'inbound'
  | 'campaigns'
  | 'idempotency'
  | 'conversions'
  | 'ledger'
  | 'events';
export type QueueName = 'jobs' | 'sends' | 'fanout' | 'replies' | 'eventDeliveries';
export type SecretName =
  | 'adminKeyHash'
  | 'whatsappAppSecret'
  | 'whatsappVerifyToken'
  | 'whatsappAccessToken'
  | 'aiApiKey'
  | 'googleAdsOAuthClient'
  | 'googleAdsDeveloperToken'
  | 'eventSigningKey';

/** Environment variable that carries a table's physical name. */
export function envNameForTable(table: TableName): string {
  return `ONCEFLOW_TABLE_${table.toUpperCase()}`;
}

/** Environment variable that carries a queue's URL. */
export function envNameForQueue(queue: QueueName): string {
  return `ONCEFLOW_QUEUE_${queue.toUpperCase()}_URL`;
}

/** Environment variable that carries where a secret lives (an SSM parameter or secret ARN). */
export function envNameForSecret(secret: SecretName): string {
  return `ONCEFLOW_SECRET_${secret.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
