/**
 * Trigger: SQS FIFO queue `jobs` (batch, ReportBatchItemFailures): runs post-processing jobs; an
 * `ai_triage` job of a tenant with `aiReplies: "send"` sends its draft through the replies port.
 *
 * It lives with replies, not conversations: it composes conversations' jobs (`jobDeps`) with the
 * replies context's AI reply port, and replies sits above conversations (replies import
 * conversations, never the other way), so this is the one place both meet without a cycle.
 */
import * as z from 'zod';
import { jobDeps } from '../../conversations/index.js';
import { JOB_TYPES, runJob } from '../../jobs/index.js';
import { queueConsumer } from '../../kernel/queue-consumer.js';
import { aiReplyPort } from '../deps.js';

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
