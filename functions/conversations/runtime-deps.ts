/** The stores the inbound, conversation and job handlers work with, from the function's environment. */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, settings, tableName } from '../kernel/config.js';
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

export function jobDeps() {
  return {
    ddb,
    clock: systemClock,
    table: tableName('inbound'),
    leaseSeconds: settings.leaseSeconds,
  };
}
