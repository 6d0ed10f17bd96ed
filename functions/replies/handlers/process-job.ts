/**
 * Trigger: SQS FIFO queue `jobs` (batch, ReportBatchItemFailures): runs the post-processing jobs a
 * ring names (one ring a message: claimed in one write, settled in one write); an
 * `ai_triage` job of a tenant with `aiReplies: "send"` sends its draft through the replies port.
 *
 * It lives with replies, not conversations: it composes conversations' jobs (`jobDeps`) with the
 * replies context's AI reply port, and replies sits above conversations (replies import
 * conversations, never the other way), so this is the one place both meet without a cycle.
 */
import { jobDeps } from '../../conversations/index.js';
import { JOB_TYPES, runJobs } from '../../jobs/index.js';
import { queueConsumer } from '../../kernel/queue-consumer.js';
import * as z from '../../kernel/zod.js';
import { aiReplyPort } from '../deps.js';

const host = {
  tenantId: z.string().check(z.minLength(1), z.maxLength(128)),
  messageId: z.string().check(z.regex(/^m_[0-9a-f]{32}$/)),
};
const ringSchema = z.union([
  z.object({
    ...host,
    jobTypes: z.array(z.enum(JOB_TYPES)).check(z.minLength(1), z.maxLength(JOB_TYPES.length)),
  }),
  // A ring enqueued before one ring named all of a message's jobs (one a job): still in flight
  // while a deployment rolls out, it runs as a ring of that one type.
  z.pipe(
    z.object({ ...host, jobType: z.enum(JOB_TYPES) }),
    z.transform(({ jobType, ...ring }) => ({ ...ring, jobTypes: [jobType] })),
  ),
]);

export const handler = queueConsumer({
  queue: 'jobs',
  schema: ringSchema,
  handle: async ({ body }) => {
    await runJobs(jobDeps({ replies: aiReplyPort() }), body);
  },
});
