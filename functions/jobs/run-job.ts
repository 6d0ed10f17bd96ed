/**
 * Runs one post-processing job: claim it (a conditional update of its entry in the message item,
 * which answers with the message; a done job or one another worker holds is left alone), do the work, and record `done` in the same transaction as the work's own
 * record, or `failed` with the attempt count. Everything runs in the telemetry context
 * `background_job:<type>`, so logs, metrics and the AI interaction name the job, not the queue.
 *
 * - `lead_match`: folds conversations held under the message's linked aliases into the phone's
 *   conversation, then attaches the conversation to the lead owning the phone, if any.
 * - `ai_triage`: asks the OpenAI-compatible endpoint to classify the message and records an
 *   interaction (model, tokens, latency, source).
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { leadForPhone } from '../conversations/conversation-store.js';
import { conversationKey } from '../conversations/identity.js';
import { foldConversations, foldLinkedAliases } from '../conversations/merge.js';
import type { AtomicWrite } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { countMetric, currentTelemetry, logger, withTelemetry } from '../kernel/telemetry.js';
import { chatCompletion } from './ai-client.js';
import {
  claimJob,
  completeJob,
  failJob,
  type JobRing,
  jobSource,
  MAX_JOB_ATTEMPTS,
  messagePk,
} from './job-store.js';

export const AFTER_CLAIM = defineFailpoint(
  'jobs.after-claim',
  'job consumer: the job is running, no work done yet',
);
export const AFTER_LEAD_ATTACH = defineFailpoint(
  'jobs.lead_match.after-attach',
  'lead_match: the conversation is attached to the lead, the job not yet done',
);
export const AFTER_MODEL_CALL = defineFailpoint(
  'jobs.ai_triage.after-model-call',
  'ai_triage: the model answered, the interaction and done not yet written',
);

export interface JobDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  readonly table: string;
  readonly leaseSeconds: number;
}

export type JobOutcome = 'done' | 'skipped' | 'failed';

interface Work {
  readonly result: Record<string, unknown>;
  readonly writes?: AtomicWrite[];
}

type MessageItem = Record<string, unknown> & { tenantId: string; messageId: string };

export async function runJob(deps: JobDeps, ring: JobRing): Promise<JobOutcome> {
  return withTelemetry({ source: jobSource(ring.jobType), tenantId: ring.tenantId }, async () => {
    const owner = randomUUID();
    const claim = await claimJob(deps.ddb, {
      table: deps.table,
      ring,
      owner,
      leaseSeconds: deps.leaseSeconds,
      clock: deps.clock,
    });
    if (!claim.claimed) {
      logger.info('job not claimable; leaving it', {
        messageId: ring.messageId,
        status: claim.job?.status,
      });
      return 'skipped';
    }
    failpoint(AFTER_CLAIM);
    const { attempts, generation } = claim.job;
    // The claim answered with the whole message item: the work's input, no second read.
    const message = claim.message as MessageItem;
    try {
      const work =
        ring.jobType === 'lead_match'
          ? await matchLead(deps, message)
          : await triage(deps, message, `g${generation}a${attempts}`);
      const done = await completeJob(deps.ddb, {
        table: deps.table,
        ring,
        owner,
        clock: deps.clock,
        message,
        result: work.result,
        ...(work.writes ? { with: work.writes } : {}),
      });
      if (!done.applied) {
        logger.warn('lost the job lease before finishing; the new holder finishes it', {
          messageId: ring.messageId,
        });
        return 'skipped';
      }
      countMetric('JobDone');
      return 'done';
    } catch (error) {
      if (error instanceof FailpointCrashError) throw error;
      await failJob(deps.ddb, {
        table: deps.table,
        ring,
        owner,
        clock: deps.clock,
        message,
        error: error instanceof Error ? error.message : String(error),
      });
      countMetric('JobFailed');
      logger.warn('job failed', { messageId: ring.messageId, attempts, error });
      if (attempts < MAX_JOB_ATTEMPTS) throw error;
      return 'failed';
    }
  });
}

async function matchLead(deps: JobDeps, message: MessageItem): Promise<Work> {
  const e164 = typeof message.e164 === 'string' ? message.e164 : undefined;
  if (!e164) return { result: { matched: false, reason: 'no_phone' } };
  const tenantId = message.tenantId;
  const phoneKey = conversationKey(tenantId, { e164 });
  // Messages that arrived under an alias before any payload linked it sit in an alias conversation.
  const aliases = Array.isArray(message.aliases)
    ? message.aliases.filter((a): a is string => typeof a === 'string')
    : [];
  const folded = await foldLinkedAliases(deps, tenantId, e164, aliases);
  const lead = await leadForPhone(deps.ddb, deps.table, tenantId, e164);
  if (!lead) return { result: { matched: false, folded } };
  const { conversationId, merged } = await foldConversations(deps, tenantId, {
    leadId: lead.leadId,
    ...(lead.name !== undefined ? { leadName: lead.name } : {}),
    keys: [phoneKey],
    e164,
  });
  failpoint(AFTER_LEAD_ATTACH);
  return { result: { matched: true, leadId: lead.leadId, conversationId, merged, folded } };
}

const TRIAGE_PROMPT =
  'Classify the customer message into one of: sales_lead, support, spam, other. Answer with the label only.';

async function triage(deps: JobDeps, message: MessageItem, run: string): Promise<Work> {
  const body = typeof message.body === 'string' ? message.body : '';
  const answer = await chatCompletion({ system: TRIAGE_PROMPT, user: body.slice(0, 4000) });
  failpoint(AFTER_MODEL_CALL);
  const label = /sales_lead|support|spam|other/.exec(answer.content)?.[0] ?? 'other';
  const source = currentTelemetry().source;
  countMetric('AiTokens', answer.usage.totalTokens);
  logger.info('ai interaction', {
    model: answer.model,
    tokens: answer.usage.totalTokens,
    latencyMs: answer.latencyMs,
  });
  const interactionId = `${message.messageId}:ai_triage:${run}`;
  return {
    result: { label, interactionId },
    writes: [
      {
        label: 'interaction',
        put: {
          table: deps.table,
          item: {
            pk: messagePk(message.messageId),
            sk: `INTERACTION#ai_triage#${run}`,
            kind: 'interaction',
            interactionId,
            tenantId: message.tenantId,
            messageId: message.messageId,
            source,
            model: answer.model,
            promptTokens: answer.usage.promptTokens,
            completionTokens: answer.usage.completionTokens,
            totalTokens: answer.usage.totalTokens,
            latencyMs: answer.latencyMs,
            label,
            createdAt: isoTime(deps.clock),
          },
          condition: 'attribute_not_exists(pk)',
        },
      },
    ],
  };
}
