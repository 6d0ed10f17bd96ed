/**
 * The port a job type's owner implements: given the message item (as the claim answered it) and a
 * run id, do the work and return its result, plus any writes that must commit with `done`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from '../kernel/atomic.js';
import type { Clock } from '../kernel/clock.js';

export interface JobWorkContext {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  readonly table: string;
}

export type MessageItem = Record<string, unknown> & { tenantId: string; messageId: string };

export interface WorkDone {
  readonly result: Record<string, unknown>;
  readonly writes?: AtomicWrite[];
}

export type JobWork = (
  context: JobWorkContext,
  message: MessageItem,
  run: string,
) => Promise<WorkDone>;
