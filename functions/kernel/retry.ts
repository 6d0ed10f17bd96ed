/**
 * Retrying a write that lost a race with another transaction (`TransactionConflict`): the loser
 * waits a little (full jitter) and runs again from the top, re-reading whatever it decided on.
 * Only conflicts are retried; a failed condition is an answer and every other error propagates.
 */
import { TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { isTransactionConflict } from './atomic.js';

export class ConflictRetriesExhaustedError extends Error {
  override name = 'ConflictRetriesExhaustedError';
}

export function isConflict(error: unknown): boolean {
  return isTransactionConflict(error) || error instanceof TransactionConflictException;
}

export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 12): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isConflict(error)) throw error;
      if (attempt >= attempts) {
        throw new ConflictRetriesExhaustedError(`still conflicting after ${attempts} attempts`);
      }
      const cap = Math.min(1000, 10 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
    }
  }
}
