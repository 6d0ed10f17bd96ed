/**
 * Trigger: SQS FIFO queue `sends` (batch, `ReportBatchItemFailures`). One message rings one
 * recipient; the recipient item decides what happens (see `sender.ts`). A refusal worth retrying
 * soon (130429, 5xx) fails just that record, so it comes back in its place in its message group.
 */
import { randomUUID } from 'node:crypto';
import { fifoGroupConsumer } from '../../kernel/fifo-group-consumer.js';
import * as z from '../../kernel/zod.js';
import { senderDeps } from '../deps.js';
import { sendToRecipient } from '../sender.js';
import { assertSafeReconcileWindow } from '../settings.js';

const schema = z.object({
  tenantId: z.string().check(z.minLength(1)),
  campaignId: z.string().check(z.minLength(1)),
  phone: z.string().check(z.regex(/^\+\d{6,15}$/)),
});

// Refused at init: a window that a provider call can outlast would allow a second send.
assertSafeReconcileWindow();

export const handler = fifoGroupConsumer({
  queue: 'sends',
  schema,
  handle: async (message) => {
    // Each delivery its own lease owner.
    await sendToRecipient(
      senderDeps(`${message.messageId}:${randomUUID()}`),
      message.body,
      message.batch,
    );
  },
});
