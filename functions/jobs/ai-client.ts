/**
 * A minimal OpenAI-compatible chat client (`POST {base}/v1/chat/completions`). The base URL is
 * `ONCEFLOW_AI_BASE_URL` on AWS, else the local simulator's `SIM_BASE_URL`; there is no default that
 * would reach a real provider from a laptop by accident.
 */
import { ConfigurationError } from '../kernel/config.js';
import { platformSecret } from '../kernel/secrets.js';

export interface ChatUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

export interface ChatResult {
  readonly model: string;
  readonly content: string;
  readonly usage: ChatUsage;
  readonly latencyMs: number;
}

export class AiCallError extends Error {
  override name = 'AiCallError';
}

export function aiBaseUrl(): string {
  const base = process.env.ONCEFLOW_AI_BASE_URL || process.env.SIM_BASE_URL;
  if (!base)
    throw new ConfigurationError('ONCEFLOW_AI_BASE_URL (or SIM_BASE_URL locally) is not set');
  return base.replace(/\/$/, '');
}

/** How long one model call may take before it is abandoned (and the job fails, to be retried). */
export const AI_CALL_TIMEOUT_MS = 20_000;

/** The model calls one `ai_triage` run makes at most: classify, then draft. */
export const AI_CALLS_PER_TRIAGE = 2;

export async function chatCompletion(input: {
  readonly system: string;
  readonly user: string;
  readonly model?: string;
  readonly timeoutMs?: number;
}): Promise<ChatResult> {
  const model = input.model ?? process.env.ONCEFLOW_AI_MODEL ?? 'gpt-4o-mini';
  const apiKey = await platformSecret('aiApiKey');
  const started = performance.now();
  const response = await fetch(`${aiBaseUrl()}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${apiKey}`,
    },
    body: JSON.stringify({
      model,
      messages: [
        { role: 'system', content: input.system },
        { role: 'user', content: input.user },
      ],
      temperature: 0,
    }),
    signal: AbortSignal.timeout(input.timeoutMs ?? AI_CALL_TIMEOUT_MS),
  });
  const latencyMs = Math.round(performance.now() - started);
  if (!response.ok) throw new AiCallError(`chat completion answered ${response.status}`);
  const json = (await response.json()) as {
    model?: string;
    choices?: Array<{ message?: { content?: string } }>;
    usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
  };
  const promptTokens = json.usage?.prompt_tokens ?? 0;
  const completionTokens = json.usage?.completion_tokens ?? 0;
  return {
    model: json.model ?? model,
    content: json.choices?.[0]?.message?.content ?? '',
    usage: {
      promptTokens,
      completionTokens,
      totalTokens: json.usage?.total_tokens ?? promptTokens + completionTokens,
    },
    latencyMs,
  };
}
