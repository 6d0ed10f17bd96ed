/**
 * Trigger: SQS FIFO queue `jobs` (batch, ReportBatchItemFailures): runs post-processing jobs; an
 * `ai_triage` job of a tenant with `aiReplies: "send"` sends its draft through the replies port.
 */
import * as z from 'zod';
import { JOB_TYPES, runJob } from '../../jobs/index.js';
import { queueConsumer } from '../../kernel/queue-consumer.js';
import { aiReplyPort } from '../../replies/index.js';
import { jobDeps } from '../deps.js';

const ringSchema = z.object({
  tenantId: z.string().min(1).max(128),
  messageId: z.string().regex(/^m_[0-9a-f]{32}$/),
  jobType: z.enum(JOB_TYPES),
});

export const handler = queueConsumer({
  queue: 'jobs',
  schema: ringSchema,
  handle: async ({ body }) => {
    await runJob(jobDeps({ replies: aiReplyPort() }), body);
  },
});
