/** The conversations context's composition root: its stores and clients, from the environment, once. */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import type { InboundDeps } from './store-message.js';

export function inboundDeps(): InboundDeps {
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
  };
}
