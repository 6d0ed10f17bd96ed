/**
 * An OpenAI-compatible chat endpoint for the post-processing jobs that call a model:
 * `POST /v1/chat/completions` with the real request and response shapes (including `usage` token
 * counts and the error shape), answering a deterministic triage label (or, to the job's drafting
 * prompt, a deterministic reply draft) so tests can assert on it.
 * Like OpenAI it wants `Authorization: Bearer <key>` (401 without), takes `content` as a string or a
 * list of parts, and answers a body that is not JSON with its own 400 shape.
 *
 * - `GET /_sim/openai/completions` → `{"completions": [{id, model, promptTokens, completionTokens, at}]}`.
 * - Faults (`PUT /_sim/faults {"openai": {...}}`): `errorRate` (0..1, answers 500), `latencyMs`.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { readJson, sendJson } from '../http-util.js';
import { FaultStore, openaiFaultsSchema } from './faults.js';
import type { SimulatorFactory } from './index.js';

interface Completion {
  readonly id: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly at: string;
}

/** Roughly what a BPE tokenizer gives for English: four characters a token, plus per-message overhead. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The label a triage prompt would get: keyword rules, deterministic. */
export function triageLabel(text: string): string {
  const t = text.toLowerCase();
  if (/(price|buy|quote|available|interested|order)/.test(t)) return 'sales_lead';
  if (/(help|broken|problem|refund|support|issue)/.test(t)) return 'support';
  if (/(http:\/\/|https:\/\/|winner|crypto|free money)/.test(t)) return 'spam';
  return 'other';
}

/** What a reply-drafting prompt would get: a short answer fitting the message's label, deterministic. */
export function draftReply(text: string): string {
  const label = triageLabel(text);
  if (label === 'sales_lead')
    return 'Thanks for your interest! A colleague will send you a quote shortly.';
  if (label === 'support')
    return 'Sorry to hear that. We are looking into it and will get back to you soon.';
  return 'Thanks for your message! We will get back to you shortly.';
}

/** The `ai_triage` job's drafting prompt (`functions/jobs/ai-triage.ts`, `DRAFT_PROMPT`) begins so. */
const DRAFT_PROMPT_START = 'Draft a reply';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/**
 * One chat message as OpenAI accepts it: a known role, and `content` as a string or a list of
 * parts (`{"type": "text", "text"}`, images…); an assistant turn may have none. Undefined when invalid.
 */
function chatMessage(raw: unknown): { role: string; content: string } | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { role, content } = raw as { role?: unknown; content?: unknown };
  if (typeof role !== 'string' || !ROLES.has(role)) return undefined;
  if (typeof content === 'string') return { role, content };
  if ((content === null || content === undefined) && role === 'assistant')
    return { role, content: '' };
  if (!Array.isArray(content) || content.length === 0) return undefined;
  const texts: string[] = [];
  for (const part of content) {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (!p || typeof p.type !== 'string') return undefined;
    if (p.type === 'text') {
      if (typeof p.text !== 'string') return undefined;
      texts.push(p.text);
    }
  }
  return { role, content: texts.join('\n') };
}

function openAiError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}

export const openaiSimulator: SimulatorFactory = () => {
  const ledger: Completion[] = [];
  const faults = new FaultStore(openaiFaultsSchema);
  return {
    name: 'openai',
    async handle(req, res, url) {
      if (req.method === 'GET' && url.pathname === '/_sim/openai/completions') {
        sendJson(res, 200, { completions: ledger });
        return true;
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') return false;
      if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
        openAiError(
          res,
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          'invalid_request_error',
        );
        return true;
      }
      let body: { model?: unknown; messages?: unknown } | undefined;
      try {
        body = (await readJson(req)) as typeof body;
      } catch {
        openAiError(
          res,
          400,
          'We could not parse the JSON body of your request.',
          'invalid_request_error',
        );
        return true;
      }
      const messages = Array.isArray(body?.messages) ? body.messages.map(chatMessage) : [];
      if (
        !body ||
        typeof body.model !== 'string' ||
        messages.length === 0 ||
        messages.some((m) => m === undefined)
      ) {
        openAiError(
          res,
          400,
          "'model' and a non-empty 'messages' list of {role, content} are required",
          'invalid_request_error',
        );
        return true;
      }
      const { latencyMs, errorRate } = faults.get();
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      if (Math.random() < errorRate) {
        openAiError(
          res,
          500,
          'The server had an error while processing your request.',
          'server_error',
        );
        return true;
      }
      const model = body.model;
      const lastUser = [...messages].reverse().find((m) => m?.role === 'user')?.content ?? '';
      const system = messages.find((m) => m?.role === 'system')?.content ?? '';
      const content = system.startsWith(DRAFT_PROMPT_START)
        ? draftReply(lastUser)
        : triageLabel(lastUser);
      const promptTokens = messages.reduce((sum, m) => sum + 4 + countTokens(m?.content ?? ''), 3);
      const completionTokens = countTokens(content);
      const completion: Completion = {
        id: `chatcmpl-${randomUUID().replace(/-/g, '').slice(0, 24)}`,
        model,
        promptTokens,
        completionTokens,
        at: new Date().toISOString(),
      };
      ledger.push(completion);
      sendJson(res, 200, {
        id: completion.id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      });
      return true;
    },
    reset() {
      ledger.length = 0;
    },
    setFaults(input) {
      faults.set(input);
    },
    clearFaults() {
      faults.clear();
    },
    getFaults() {
      return faults.armed();
    },
  };
};
