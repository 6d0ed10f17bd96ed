/**
 * `batchGetAll` against the real DynamoDB Local. DynamoDB Local answers every batch whole (it never
 * throttles), so AWS's partial answers are made by an SDK middleware on the client: it moves part
 * of a real `BatchGetItem` answer into `UnprocessedKeys`, exactly the shape AWS sends under
 * throttling. The guarantee: every key is answered (found or absent) or the call throws; a key
 * left unprocessed is never read as absent. Conversation routing is checked through it too.
 */
import { randomUUID } from 'node:crypto';
import { type AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { keys } from '../../../functions/conversations/items.js';
import { resolveRoute } from '../../../functions/conversations/routing.js';
import {
  BATCH_GET_MAX_KEYS,
  batchGetAll,
  UnprocessedKeysError,
} from '../../../functions/kernel/batch-get.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';

const table = () => tableName('inbound');

type Av = Record<string, AttributeValue>;

/**
 * A document client whose `BatchGetItem` answers keep only `keep(round)` items of each answer and
 * hand the rest back as unprocessed keys, as AWS does under throttling.
 */
function partialClient(keep: (round: number, answered: number) => number) {
  const client = new DynamoDBClient({});
  let round = 0;
  const requests: number[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName !== 'BatchGetItemCommand') return out;
      const output = out.output as {
        Responses?: Record<string, Av[]>;
        UnprocessedKeys?: Record<string, { Keys: Av[]; ConsistentRead?: boolean }>;
      };
      const items = output.Responses?.[table()] ?? [];
      requests.push(
        (args.input as { RequestItems: Record<string, { Keys: Av[] }> }).RequestItems[table()]?.Keys
          .length ?? 0,
      );
      const kept = Math.min(items.length, keep(round++, items.length));
      const handedBack = items.slice(kept).map((item) => ({ pk: item.pk, sk: item.sk }) as Av);
      if (handedBack.length > 0) {
        output.Responses = { [table()]: items.slice(0, kept) };
        output.UnprocessedKeys = { [table()]: { Keys: handedBack, ConsistentRead: true } };
      }
      return out;
    },
    { step: 'initialize', name: 'partialBatchGet' },
  );
  return {
    ddb: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    requests,
  };
}

async function putItems(items: readonly Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += 25) {
    await ddb.send(
      new BatchWriteCommand({
        RequestItems: {
          [table()]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
        },
      }),
    );
  }
}

describe('batchGetAll', () => {
  it('answers every key of 250 even when each answer hands back half its keys, waiting longer each round', async () => {
    // Prepare: 200 items exist, 50 keys name nothing.
    const run = randomUUID();
    const keys = Array.from({ length: 250 }, (_, i) => ({ pk: `BG#${run}#${i}`, sk: 'ITEM' }));
    await putItems(keys.slice(0, 200).map((k, i) => ({ ...k, n: i })));
    const partial = partialClient((_round, answered) => Math.ceil(answered / 2));
    const waits: number[] = [];
    // Act
    const found = await batchGetAll<{ pk: string; n: number }>(partial.ddb, table(), keys, {
      maxRounds: 12,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    // Assess: every existing item once, nothing invented; more requests than chunks; no request
    // over DynamoDB's 100 keys; the waits stay within the jittered, growing caps.
    expect(found.map((item) => item.n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    expect(partial.requests.length).toBeGreaterThan(3);
    expect(Math.max(...partial.requests)).toBeLessThanOrEqual(BATCH_GET_MAX_KEYS);
    expect(waits.length).toBeGreaterThan(0);
    for (const wait of waits) expect(wait).toBeLessThanOrEqual(25 * 2 ** 12);
  });

  it('throws rather than answer with a hole when keys stay unprocessed', async () => {
    // Prepare
    const run = randomUUID();
    const keys = Array.from({ length: 5 }, (_, i) => ({ pk: `BG#${run}#${i}`, sk: 'ITEM' }));
    await putItems(keys);
    const stuck = partialClient(() => 0);
    // Act / Assess
    await expect(
      batchGetAll(stuck.ddb, table(), keys, { maxRounds: 3, sleep: async () => {} }),
    ).rejects.toThrow(UnprocessedKeysError);
    expect(stuck.requests).toEqual([5, 5, 5]);
  });
});

describe('conversation routing under partial batch answers', () => {
  it('finds the existing key item of a phone with aliases although the first answer hands it back', async () => {
    // Prepare: the person's phone already has its conversation (key item), and one alias is linked.
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const e164 = '+972501234567';
    const alias = `lid:${Date.now()}`;
    const routeKey = `phone:${tenantId}:${e164}`;
    await ddb.send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...keys.conversationKey(routeKey),
          conversationId: 'conv-1',
          conversationKey: routeKey,
        },
      }),
    );
    // Only the first answer is partial: it hands every item back.
    const partial = partialClient((round) => (round === 0 ? 0 : Number.POSITIVE_INFINITY));
    // Act
    const route = await resolveRoute({ ddb: partial.ddb, table: table() }, tenantId, {
      e164,
      aliases: [alias],
    });
    // Assess: the existing conversation, not "no key item" (which would start a second one).
    expect(route.routeKey).toBe(routeKey);
    expect(route.existing?.conversationId).toBe('conv-1');
    expect(partial.requests.length).toBe(2);
  });
});
