/**
 * Trigger: SQS FIFO queue `eventDeliveries` (batch, `ReportBatchItemFailures`). One message is one
 * delivery; its group is (tenant, endpoint, entity). An attempt that is not yet due, or failed with
 * attempts left, hides its message until the attempt is due and fails the record, which fails the
 * rest of its group in this batch: the entity's later events wait, other groups go on.
 */
import { fifoGroupConsumer } from '../../kernel/fifo-group-consumer.js';
import { hideFor } from '../../kernel/queue-consumer.js';
import * as z from '../../kernel/zod.js';
import { type DeliveryDeps, deliver } from '../deliver.js';
import { deliveryDeps } from '../deps.js';

const schema = z.object({
  tenantId: z.string().check(z.minLength(1)),
  endpointId: z.string().check(z.minLength(1)),
  eventId: z.string().check(z.minLength(1)),
  cycle: z.string().check(z.minLength(1)),
  entityKey: z.string().check(z.minLength(1)),
  occurredAt: z.string().check(z.minLength(1)),
});

/** Held back on purpose until its next attempt is due (not an error). */
class AttemptNotDueError extends Error {
  override name = 'AttemptNotDueError';
}

let deps: DeliveryDeps | undefined;

export const handler = fifoGroupConsumer({
  queue: 'eventDeliveries',
  schema,
  async handle(message) {
    deps ??= deliveryDeps();
    const outcome = await deliver(deps, message.body);
    if (outcome.kind === 'later') {
      if (message.record) await hideFor(message.record, outcome.afterMs / 1000);
      throw new AttemptNotDueError(`next attempt in ${Math.ceil(outcome.afterMs / 1000)} s`);
    }
  },
});
