/**
 * Whether the service's store answers: one strongly consistent read of a key no item uses, in the
 * `tenants` table that every request path reads first. Answers within `timeoutMs` or counts as down.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from './items.js';

export interface StoreProbe {
  /** Resolves true when the store answered a read, false on any error or timeout. */
  reachable(): Promise<boolean>;
}

export class DynamoDbStoreProbe implements StoreProbe {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly timeoutMs = 2000,
  ) {}

  async reachable(): Promise<boolean> {
    try {
      await this.ddb.send(
        new GetCommand({ TableName: this.table, Key: keys.probe, ConsistentRead: true }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      return true;
    } catch {
      return false;
    }
  }
}
