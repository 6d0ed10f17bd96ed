/**
 * Replies on WhatsApp Web through the tenant's own Evolution API (v2) instance: the `ReplyChannel`
 * of `whatsapp_web`.
 *
 * The request, as Evolution API's own source defines it (EvolutionAPI/evolution-api @ 3454bec):
 * `POST {baseUrl}/message/sendText/{instance}` (`src/api/routes/sendMessage.router.ts`, answered
 * `201 Created` with the sent `WAMessage`), authenticated by the instance's key in the `apikey`
 * header (`src/api/guards/auth.guard.ts`), body `{"number", "text"}` (`textMessageSchema` in
 * `src/validate/message.schema.ts`; `SendTextDto` in `src/api/dto/sendMessage.dto.ts`). The answer's
 * `key.id` is the WhatsApp message id, the same `key.id` as the instance's own (`fromMe`)
 * `messages.upsert` webhook of the message: the echo `/webhooks/whatsapp-web` files under
 * `messageKeys.web(key.id)`.
 *
 * Client id: none. `SendTextDto` (= `Metadata` + `text`) has no message id field, and
 * `sendMessageWithTyping` passes `null` as the `messageId` of its inner `sendMessage`
 * (`src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts`), so Baileys always picks
 * the id: a resend is a second WhatsApp message, and a lost answer leaves onceflow without the id.
 * Unknown-outcome evidence is therefore a read of the instance's own record: `POST
 * {baseUrl}/chat/findMessages/{instance}` with `where.key = {remoteJid, fromMe: true}`
 * (`src/api/routes/chat.router.ts`; `fetchMessages` in `src/api/services/channel.service.ts`
 * answers `{"messages": {"total", "pages", "currentPage", "records": [{key, message,
 * messageTimestamp}]}}`, newest first). Without a handle the match is by text and time: the
 * messages to that chat sent since the attempt was claimed, with the reply's text. Exactly one →
 * found (its `key.id`); none → absent; two or more → unavailable (two identical replies in flight
 * cannot be told apart, so the tenant's policy decides rather than a guess).
 *
 * Outcomes, as for campaigns (`campaigns/whatsapp-client.ts`): a connection refused before sending
 * and any 4xx are *rejections* (Evolution checks the number exists on WhatsApp, `onWhatsApp`, and
 * the key and instance, before anything is sent: 400, 401, 404; 429 retryable, the rest
 * permanent); a 5xx, a timeout, a reset, or a 2xx without `key.id` are *unknown*: Baileys may have
 * relayed the message before the error.
 *
 * The base URL is the tenant's (its own server): every call first passes the SSRF guard
 * (`kernel/ssrf.ts`), so a tenant cannot point the sender at an internal address.
 */
import type { ProviderRecord, ReplyChannel, ReplySend, ReplySendResult } from '../channel.js';
import {
  callProvider,
  isResult,
  type ProviderAnswer,
  refusal as rejected,
} from './provider-http.js';

/** A tenant's Evolution server and the instance's API key (Secrets Manager, `deps.ts`). */
export interface EvolutionCredentials {
  readonly baseUrl: string;
  readonly apiKey: string;
}

export interface EvolutionChannelOptions {
  readonly credentials: (send: ReplySend) => Promise<EvolutionCredentials | undefined>;
  /** Refuses a tenant-given URL that resolves to a non-public address (throws). */
  readonly guard: (url: string) => Promise<void>;
  /** @default 15000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** How many of the chat's latest own messages `findSent` reads (one page). */
const FIND_SENT_PAGE = 50;
/** Clock skew allowed between onceflow's claim time and the WhatsApp message timestamp (s). */
const SKEW_SECONDS = 60;

/** Evolution's `number`: the digits of the E.164 phone (it builds the JID itself, `createJid`). */
export function evolutionNumber(to: string): string {
  return to.replace(/^\+/, '');
}

/** The JID a phone's one-to-one chat has (`createJid`: `<digits>@s.whatsapp.net`). */
export function evolutionJid(to: string): string {
  return to.includes('@') ? to : `${evolutionNumber(to)}@s.whatsapp.net`;
}

/** The body of `POST /message/sendText/{instance}` (`textMessageSchema`). */
export function sendTextBody(send: ReplySend): { number: string; text: string } {
  return { number: evolutionNumber(send.to), text: send.body ?? '' };
}

async function call(
  options: EvolutionChannelOptions,
  send: ReplySend,
  path: string,
  body: unknown,
): Promise<ProviderAnswer | ReplySendResult> {
  const credentials = await options.credentials(send);
  if (!credentials) {
    return rejected(false, 0, 'no_credentials', 'the tenant has no Evolution API key stored');
  }
  const base = credentials.baseUrl.replace(/\/$/, '');
  try {
    await options.guard(base);
  } catch (error) {
    return rejected(false, 0, 'forbidden_target', (error as Error).message);
  }
  return callProvider(
    options.fetch ?? fetch,
    `${base}${path}/${encodeURIComponent(send.from)}`,
    {
      method: 'POST',
      headers: {
        apikey: credentials.apiKey,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify(body),
      // A redirect could lead past the SSRF guard: never followed.
      redirect: 'error',
    },
    options.timeoutMs ?? 15_000,
  );
}

/** Evolution's error body: `{"status", "error", "response": {"message": [...]}}` (`exceptions/`). */
function errorMessage(json: Record<string, unknown> | undefined, status: number): string {
  const response = json?.response as { message?: unknown } | undefined;
  const message = response?.message;
  if (Array.isArray(message)) return message.map((m) => JSON.stringify(m)).join('; ');
  if (typeof message === 'string') return message;
  return typeof json?.error === 'string' ? json.error : `HTTP ${status}`;
}

function classify(answer: ProviderAnswer): ReplySendResult {
  const { status, json } = answer;
  if (status >= 200 && status < 300) {
    const id = (json?.key as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string' && id !== '') return { kind: 'accepted', providerMessageId: id };
    return { kind: 'unknown', reason: `HTTP ${status} without key.id` };
  }
  if (status >= 500) return { kind: 'unknown', reason: `HTTP ${status}` };
  return rejected(status === 429, status, `HTTP ${status}`, errorMessage(json, status));
}

interface EvolutionRecord {
  readonly key?: { readonly id?: string; readonly fromMe?: boolean; readonly remoteJid?: string };
  readonly message?: {
    readonly conversation?: string;
    readonly extendedTextMessage?: { readonly text?: string };
  };
  readonly messageTimestamp?: number | string;
}

async function findSentMessage(
  options: EvolutionChannelOptions,
  send: ReplySend,
): Promise<ProviderRecord> {
  const answer = await call(options, send, '/chat/findMessages', {
    where: { key: { remoteJid: evolutionJid(send.to), fromMe: true } },
    offset: FIND_SENT_PAGE,
    page: 1,
  });
  if (isResult(answer) || answer.status !== 200) return { kind: 'unavailable' };
  const records = (answer.json?.messages as { records?: unknown } | undefined)?.records;
  if (!Array.isArray(records)) return { kind: 'unavailable' };
  const since = send.sendingSince ? Date.parse(send.sendingSince) / 1000 - SKEW_SECONDS : 0;
  const matches = (records as EvolutionRecord[]).filter((r) => {
    const text = r.message?.conversation ?? r.message?.extendedTextMessage?.text;
    return (
      r.key?.fromMe === true &&
      typeof r.key.id === 'string' &&
      text === send.body &&
      Number(r.messageTimestamp ?? 0) >= since
    );
  });
  const [only, ...more] = matches;
  if (!only?.key?.id) return { kind: 'absent' };
  // Two identical texts since the claim: no way to say which is this reply's.
  if (more.length > 0) return { kind: 'unavailable' };
  return { kind: 'found', providerMessageId: only.key.id };
}

export function createEvolutionChannel(options: EvolutionChannelOptions): ReplyChannel {
  return {
    name: 'whatsapp_web',
    findSent: (send) => findSentMessage(options, send),
    async send(send: ReplySend): Promise<ReplySendResult> {
      if (!send.body) return rejected(false, 0, undefined, 'a WhatsApp Web reply needs a body');
      if (send.template) {
        return rejected(false, 0, undefined, 'WhatsApp Web has no templates; send a body');
      }
      const answer = await call(options, send, '/message/sendText', sendTextBody(send));
      return isResult(answer) ? answer : classify(answer);
    },
  };
}
