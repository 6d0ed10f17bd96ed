/**
 * The campaign bench's baseline: the cheapest correct-looking campaign sender. Each contact is one
 * item (`BC#<run>#<shard>` / `R#<e164>`, no index attributes). A worker pool pages through the
 * items, paces itself with an in-memory rate limiter (no DynamoDB writes), claims a contact with
 * one conditional update (`pending → sending`), calls the same WhatsApp simulator, and records
 * the answer with a second (`sent` + wamid, `failed`, `unknown`, or back to `pending` when the
 * provider refused and retrying is safe). Status webhooks move a contact forward with one
 * conditional update each. No counters, no transactions, no recovery schedule: its totals come
 * from counting the items.
 *
 * What it gives up (and onceflow keeps): totals without a scan, a recovery path for a crashed
 * worker's `sending` contacts and for lost queue messages, pausing, the rate shared by every
 * worker on every machine.
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { WhatsAppSender } from '../../functions/campaigns/whatsapp-client.js';

const SHARDS = 8;
const RANK: Record<string, number> = {
  pending: 0,
  sending: 1,
  unknown: 2,
  sent: 3,
  delivered: 4,
  read: 5,
  failed: 6,
};

export interface BaselineStatus {
  readonly callbackData: string;
  readonly status: string;
}

export interface CampaignBaseline {
  /** Writes the contacts (set-up, not part of the measured send). */
  load(contacts: readonly string[]): Promise<void>;
  /** Sends every pending contact once at `ratePerSecond`, `concurrency` calls in flight. */
  run(ratePerSecond: number, concurrency: number): Promise<void>;
  /** Applies one status webhook entry (one conditional update). */
  applyStatus(status: BaselineStatus): Promise<void>;
  /** Counts the items by status (a full read: the baseline has no counters). */
  count(): Promise<Record<string, number>>;
  readonly callbackPrefix: string;
}

function shardOf(phone: string): number {
  let h = 0;
  for (const c of phone) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % SHARDS;
}

/** A rate limiter for one process: the n-th call may start at `start + n / rate`. */
function pacer(ratePerSecond: number) {
  let next = Date.now();
  return async () => {
    const at = Math.max(Date.now(), next);
    next = at + 1000 / ratePerSecond;
    const wait = at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
}

export function campaignBaseline(options: {
  readonly ddb: DynamoDBDocumentClient;
  readonly table: string;
  readonly run: string;
  readonly phoneNumberId: string;
  readonly whatsapp: WhatsAppSender;
}): CampaignBaseline {
  const { ddb, table, run } = options;
  const pk = (shard: number) => `BC#${run}#${shard}`;
  const key = (phone: string) => ({ pk: pk(shardOf(phone)), sk: `R#${phone}` });
  const callbackPrefix = `base|${run}|`;

  async function update(input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await ddb.send(new UpdateCommand(input));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async function pendingPage(shard: number, start?: Record<string, unknown>) {
    const out: QueryCommandOutput = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: '#st = :pending',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':pk': pk(shard), ':pending': 'pending' },
        ConsistentRead: true,
        Limit: 100,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    return out;
  }

  async function sendOne(phone: string, take: () => Promise<void>): Promise<'done' | 'again'> {
    const claimed = await update({
      TableName: table,
      Key: key(phone),
      UpdateExpression: 'SET #st = :sending',
      ConditionExpression: '#st = :pending',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: { ':sending': 'sending', ':pending': 'pending' },
    });
    if (!claimed) return 'done';
    let result: Awaited<ReturnType<WhatsAppSender['sendTemplate']>>;
    for (let attempt = 0; ; attempt++) {
      await take();
      result = await options.whatsapp.sendTemplate({
        phoneNumberId: options.phoneNumberId,
        to: phone,
        template: { name: 'spring_sale', language: 'en_US' },
        callbackData: `${callbackPrefix}${phone}`,
      });
      const retryable =
        result.kind === 'rejected' &&
        (result.class === 'throughput' || result.class === 'transient');
      if (!retryable || attempt >= 2) break;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    const record = (status: string, extra: Record<string, unknown> = {}) =>
      update({
        TableName: table,
        Key: key(phone),
        UpdateExpression: `SET #st = :st${Object.keys(extra)
          .map((k) => `, ${k} = :${k}`)
          .join('')}`,
        // A status webhook may have moved it on already: never backwards.
        ConditionExpression: '#st = :sending',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ':st': status,
          ':sending': 'sending',
          ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`:${k}`, v])),
        },
      });
    if (result.kind === 'accepted') await record('sent', { wamid: result.wamid });
    else if (result.kind === 'unknown') await record('unknown');
    else if (result.class === 'permanent') await record('failed');
    else {
      await record('pending');
      return 'again';
    }
    return 'done';
  }

  return {
    callbackPrefix,
    async load(contacts) {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < contacts.length) {
            const phone = contacts[next++] as string;
            await ddb.send(
              new PutCommand({
                TableName: table,
                Item: { ...key(phone), phone, status: 'pending' },
              }),
            );
          }
        }),
      );
    },
    async run(ratePerSecond, concurrency) {
      const take = pacer(ratePerSecond);
      for (let round = 0; round < 5; round++) {
        const work: string[] = [];
        for (let shard = 0; shard < SHARDS; shard++) {
          let start: Record<string, unknown> | undefined;
          do {
            const page = await pendingPage(shard, start);
            for (const item of page.Items ?? []) work.push(String(item.phone));
            start = page.LastEvaluatedKey;
          } while (start);
        }
        if (work.length === 0) return;
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < work.length) await sendOne(work[next++] as string, take);
          }),
        );
      }
    },
    async applyStatus(status) {
      if (!status.callbackData.startsWith(callbackPrefix)) return;
      const rank = RANK[status.status];
      if (rank === undefined) return;
      const phone = status.callbackData.slice(callbackPrefix.length);
      // Forward only: applied when the contact's status ranks lower than the reported one.
      const lower = Object.keys(RANK).filter((s) => (RANK[s] ?? 0) < rank);
      await update({
        TableName: table,
        Key: key(phone),
        UpdateExpression: 'SET #st = :st',
        ConditionExpression: `#st IN (${lower.map((_, i) => `:l${i}`).join(', ')})`,
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ':st': status.status,
          ...Object.fromEntries(lower.map((s, i) => [`:l${i}`, s])),
        },
      });
    },
    async count() {
      const counts: Record<string, number> = {};
      for (let shard = 0; shard < SHARDS; shard++) {
        let start: Record<string, unknown> | undefined;
        do {
          const out: QueryCommandOutput = await ddb.send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': pk(shard) },
              ConsistentRead: true,
              ...(start ? { ExclusiveStartKey: start } : {}),
            }),
          );
          for (const item of out.Items ?? []) {
            const s = String(item.status);
            counts[s] = (counts[s] ?? 0) + 1;
          }
          start = out.LastEvaluatedKey;
        } while (start);
      }
      return counts;
    },
  };
}
