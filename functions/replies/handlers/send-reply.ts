/**
 * Trigger: SQS FIFO queue `replies` (batch, `ReportBatchItemFailures`; group: the conversation).
 * One doorbell rings one reply; the reply item decides (`sender.ts`). A refusal worth retrying
 * fails just that record, so it comes back in its place in its conversation's group.
 */
import { randomUUID } from 'node:crypto';
import { ddb } from '../../kernel/clients.js';
import { systemClock } from '../../kernel/clock.js';
import { settings, tableName } from '../../kernel/config.js';
import { fifoGroupConsumer } from '../../kernel/fifo-group-consumer.js';
import * as z from '../../kernel/zod.js';
import { echoKeyOf, rateOf, replyChannels, sendTokens } from '../deps.js';
import { sendReply } from '../sender.js';

const schema = z.object({
  tenantId: z.string().check(z.minLength(1), z.maxLength(256)),
  messageId: z.string().check(z.regex(/^r_[0-9a-f]{32}$/)),
});

export const handler = fifoGroupConsumer({
  queue: 'replies',
  schema,
  handle: async (message) => {
    await sendReply(
      {
        ddb,
        clock: systemClock,
        table: tableName('inbound'),
        channels: replyChannels(),
        tokens: sendTokens(),
        rateOf,
        echoKeyOf,
        owner: `${message.messageId}:${randomUUID()}`,
        leaseSeconds: settings.leaseSeconds,
        reconcileWindowSeconds: settings.reconcileWindowSeconds,
      },
      message.body,
    );
  },
});
