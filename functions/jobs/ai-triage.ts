/**
 * `ai_triage`, owned by jobs: asks the OpenAI-compatible endpoint to classify the message, then (not
 * for spam, and only for a tenant with AI replies) to draft a reply, and records each model call as an interaction (model, tokens,
 * latency, source) in the same transaction as `done`.
 *
 * A tenant with `aiReplies: "draft"` gets the draft on the job's result
 * (`GET /v1/messages/{id}/jobs`); one with `aiReplies: "send"` has it sent as a reply (`source: "ai"`, telemetry source
 * `background_job:ai_triage`), through the replies context's port (`AiReplyPort`). That reply is
 * named by the inbound message, never by the run: a run retried after a crash (between the reply's
 * creation and `done`) or a second run racing the first creates the same reply, once.
 *
 * The model and the replies are ports handed in by whoever registers the work
 * (`functions/conversations/deps.ts`): jobs import only the kernel.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric, currentTelemetry, logger } from '../kernel/telemetry.js';
import type { ChatResult } from './ai-client.js';
import type { InteractionRecord, JobHost, JobResult } from './items.js';
import type { JobWork } from './job-work.js';

export const AFTER_MODEL_CALL = defineFailpoint(
  'jobs.ai_triage.after-model-call',
  'ai_triage: the model answered, the interaction and done not yet written',
);
export const AFTER_REPLY_CREATED = defineFailpoint(
  'jobs.ai_triage.after-reply-created',
  'ai_triage: the AI reply is created (queued, rung), the job not yet done',
);

const TRIAGE_PROMPT =
  'Classify the customer message into one of: sales_lead, support, spam, other. Answer with the label only.';
/** The simulator (`lib/local/sim/openai.ts`) recognises this prompt by its first words. */
export const DRAFT_PROMPT =
  'Draft a reply to the customer message, as the business, in one or two short sentences. Answer with the reply text only.';
/** A WhatsApp text body holds 4,096 characters; a draft kept on the job's result, the same. */
const MAX_DRAFT_CHARS = 4096;

/** The model (an OpenAI-compatible chat completion): `chatCompletion`, or a test's own. */
export type ChatPort = (input: {
  readonly system: string;
  readonly user: string;
}) => Promise<ChatResult>;

/** What the replies context answers for an AI reply (`functions/replies/ai-replies.ts`). */
export type AiReplyOutcome =
  | { readonly sent: true; readonly messageId: string; readonly created: boolean }
  /** Refused for good (no channel, outside the service window): the draft stays a draft. */
  | { readonly sent: false; readonly reason: string };

/** The replies context's port: the tenant's setting, and the once-per-inbound send. */
export interface AiReplyPort {
  /** The tenant's `aiReplies`: `off` (no draft), `draft` (kept on the job) or `send`. */
  mode(tenantId: string): Promise<'off' | 'draft' | 'send'>;
  send(input: {
    readonly tenantId: string;
    readonly inboundMessageId: string;
    readonly conversationId: string;
    readonly body: string;
    readonly telemetrySource: string;
  }): Promise<AiReplyOutcome>;
}

/** What triage reads of the message: its text and conversation. */
export interface TriageInput extends JobHost {
  readonly body?: string;
  readonly conversationId?: string;
}

export interface TriageDeps {
  readonly clock: Clock;
  readonly chat: ChatPort;
  /** Absent: no draft (a runner without the replies context wired, as `aiReplies: "off"`). */
  readonly replies?: AiReplyPort;
}

export function triage(deps: TriageDeps): JobWork<TriageInput> {
  return async (message, run) => {
    const source = currentTelemetry().source;
    const text = (message.body ?? '').slice(0, 4000);
    const records: InteractionRecord[] = [];
    const ask = async (system: string, call: string) => {
      const answer = await deps.chat({ system, user: text });
      failpoint(AFTER_MODEL_CALL);
      countMetric('AiTokens', answer.usage.totalTokens);
      logger.info('ai interaction', {
        model: answer.model,
        tokens: answer.usage.totalTokens,
        latencyMs: answer.latencyMs,
      });
      // One record per model call of this run: `g1a2` (classify), `g1a2:draft`.
      const callRun = call === 'classify' ? run : `${run}:${call}`;
      records.push({
        jobType: 'ai_triage',
        run: callRun,
        interactionId: `${message.messageId}:ai_triage:${callRun}`,
        tenantId: message.tenantId,
        messageId: message.messageId,
        source,
        model: answer.model,
        promptTokens: answer.usage.promptTokens,
        completionTokens: answer.usage.completionTokens,
        totalTokens: answer.usage.totalTokens,
        latencyMs: answer.latencyMs,
        label: call,
        createdAt: isoTime(deps.clock),
      });
      return answer.content;
    };

    const label =
      /sales_lead|support|spam|other/.exec(await ask(TRIAGE_PROMPT, 'classify'))?.[0] ?? 'other';
    // The record keeps its label (what the interaction decided), as before drafts existed.
    records[0] = { ...(records[0] as InteractionRecord), label };
    const result: Record<string, string | number | boolean> = {
      label,
      interactionId: (records[0] as InteractionRecord).interactionId,
    };
    const { conversationId } = message;
    // A draft is another model call: only for a tenant that asked for AI replies, never for spam.
    const mode = deps.replies ? await deps.replies.mode(message.tenantId) : 'off';
    if (mode !== 'off' && label !== 'spam' && conversationId !== undefined) {
      const draft = (await ask(DRAFT_PROMPT, 'draft')).trim().slice(0, MAX_DRAFT_CHARS);
      if (draft !== '') {
        const reply = { ...message, conversationId };
        Object.assign(result, await replyWith(deps, mode, reply, draft, source));
      }
    }
    return { result: result as JobResult, records };
  };
}

/** The draft kept on the job; sent as the AI reply when the tenant says so. */
async function replyWith(
  deps: TriageDeps,
  mode: 'draft' | 'send',
  message: TriageInput & { readonly conversationId: string },
  draft: string,
  telemetrySource: string,
): Promise<Record<string, string>> {
  if (!deps.replies || mode !== 'send') return { draft, reply: 'drafted' };
  const outcome = await deps.replies.send({
    tenantId: message.tenantId,
    inboundMessageId: message.messageId,
    conversationId: message.conversationId,
    body: draft,
    telemetrySource,
  });
  if (!outcome.sent) return { draft, reply: 'refused', replyError: outcome.reason };
  failpoint(AFTER_REPLY_CREATED);
  return { draft, reply: 'sent', replyMessageId: outcome.messageId };
}
