/**
 * The seed's approach, as the ledger bench's baseline: a user row carries `currentQueueType`;
 * every remover runs a conditional update (`WHERE currentQueueType = :queue`), and the cleanup
 * cron and pre-call validation log a conversion only when their own update matched, after the
 * first fix's "no conversion logged for this user in the last hour" check (a query, then a put).
 * A completed call removes the user without logging. The signature itself only stores the fact.
 *
 * Items live in the bench's own partitions of the `ledger` table (`BQ#`, `BS#`, `BL#`).
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

const QUEUE = 'unsigned_users';
const HOUR_MS = 3_600_000;

export interface Baseline {
  join(userId: string): Promise<void>;
  /** The signature webhook: the fact is stored; nothing is logged here. */
  signed(userId: string, at: string): Promise<void>;
  preCallValidation(userId: string): Promise<void>;
  callCompleted(userId: string): Promise<void>;
  cleanupCron(userId: string): Promise<void>;
  logsOf(userId: string): Promise<number>;
}

export function seedBaseline(ddb: DynamoDBDocumentClient, table: string, run: string): Baseline {
  const userKey = (u: string) => ({ pk: `BQ#${run}#${u}`, sk: 'USER' });
  const signatureKey = (u: string) => ({ pk: `BS#${run}#${u}`, sk: 'SIGNED' });
  const logPk = (u: string) => `BL#${run}#${u}`;

  async function removeIfQueued(userId: string): Promise<boolean> {
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: userKey(userId),
          UpdateExpression: 'REMOVE currentQueueType',
          ConditionExpression: 'currentQueueType = :q',
          ExpressionAttributeValues: { ':q': QUEUE },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async function hasSigned(userId: string): Promise<boolean> {
    const out = await ddb.send(
      new GetCommand({ TableName: table, Key: signatureKey(userId), ConsistentRead: true }),
    );
    return out.Item !== undefined;
  }

  async function logWithDuplicateCheck(userId: string): Promise<void> {
    const since = new Date(Date.now() - HOUR_MS).toISOString();
    const recent = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: { ':pk': logPk(userId), ':since': since },
        Limit: 1,
      }),
    );
    if ((recent.Items ?? []).length > 0) return;
    await ddb.send(
      new PutCommand({
        TableName: table,
        Item: { pk: logPk(userId), sk: `${new Date().toISOString()}#${randomUUID()}`, userId },
      }),
    );
  }

  async function removeSignedAndLog(userId: string): Promise<void> {
    if (!(await hasSigned(userId))) return;
    if (await removeIfQueued(userId)) await logWithDuplicateCheck(userId);
  }

  return {
    async join(userId) {
      await ddb.send(
        new PutCommand({ TableName: table, Item: { ...userKey(userId), currentQueueType: QUEUE } }),
      );
    },
    async signed(userId, at) {
      await ddb.send(new PutCommand({ TableName: table, Item: { ...signatureKey(userId), at } }));
    },
    preCallValidation: removeSignedAndLog,
    async callCompleted(userId) {
      await removeIfQueued(userId);
    },
    cleanupCron: removeSignedAndLog,
    async logsOf(userId) {
      const out = await ddb.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': logPk(userId) },
          Select: 'COUNT',
          ConsistentRead: true,
        }),
      );
      return out.Count ?? 0;
    },
  };
}
