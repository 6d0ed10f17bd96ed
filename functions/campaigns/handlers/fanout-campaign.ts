/**
 * Trigger: SQS FIFO queue `fanout`. One message fans out one shard of a running campaign (see
 * `fanout.ts`); a shard too large for one invocation rings itself to continue.
 */
import { queueConsumer } from '../../kernel/queue-consumer.js';
import * as z from '../../kernel/zod.js';
import { fanoutDeps, messagesPerSecond } from '../deps.js';
import { fanoutShard } from '../fanout.js';
import { SHARDS } from '../items.js';

const schema = z.object({
  tenantId: z.string().check(z.minLength(1)),
  campaignId: z.string().check(z.minLength(1)),
  generation: z.number().check(z.int(), z.gte(0)),
  shard: z.number().check(z.int(), z.gte(0), z.lte(SHARDS - 1)),
});

/** Work per invocation before handing over to a continuation message. */
const BUDGET_MS = 20_000;

export const handler = queueConsumer({
  queue: 'fanout',
  schema,
  handle: async (message) => {
    const rate = await messagesPerSecond(message.body.tenantId);
    await fanoutShard(fanoutDeps(), message.body, rate, BUDGET_MS);
  },
});
