/**
 * `ai_triage`, owned by jobs: asks the OpenAI-compatible endpoint to classify the message and
 * records an interaction (model, tokens, latency, source) in the same transaction as `done`.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric, currentTelemetry, logger } from '../kernel/telemetry.js';
import { chatCompletion } from './ai-client.js';
import type { JobHost } from './items.js';
import type { JobWork } from './job-work.js';

export const AFTER_MODEL_CALL = defineFailpoint(
  'jobs.ai_triage.after-model-call',
  'ai_triage: the model answered, the interaction and done not yet written',
);

const TRIAGE_PROMPT =
  'Classify the customer message into one of: sales_lead, support, spam, other. Answer with the label only.';

/** What triage reads of the message: its text. */
export interface TriageInput extends JobHost {
  readonly body?: string;
}

export function triage(deps: { readonly clock: Clock }): JobWork<TriageInput> {
  return async (message, run) => {
    const answer = await chatCompletion({
      system: TRIAGE_PROMPT,
      user: (message.body ?? '').slice(0, 4000),
    });
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
      records: [
        {
          jobType: 'ai_triage',
          run,
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
      ],
    };
  };
}
