/**
 * Replies on LinkedIn, Instagram and Telegram (and a WhatsApp account connected to Unipile) through
 * a Unipile chat, and e-mail through Unipile's mail API: the `ReplyChannel` of those channels.
 *
 * Requests, as `unipile-node-sdk` 1.9.3 sends them (`resources/messaging.resource.js` `sendMessage`,
 * `resources/email.resource.js` `send`; multipart/form-data, the key in `X-API-KEY`):
 * - messaging: `POST /api/v1/chats/{chat_id}/messages` with `text` → `{"object": "MessageSent",
 *   "message_id": string | null}` (`MessageSentResponseSchema`). `to` is the Unipile chat id, which
 *   every inbound `message_received` carries (`chat_id`) and onceflow stores on the message
 *   (`providerChatId`), so a reply goes to the chat of the person's latest message.
 * - e-mail: `POST /api/v1/emails` with `account_id`, `to` (JSON `[{identifier}]`), `subject`,
 *   `body`, `reply_to` (the Unipile `email_id` answered: Unipile then threads the reply, setting
 *   `In-Reply-To`/`References` itself) and `custom_headers` (JSON `[{name, value}]`) → `{"object":
 *   "EmailSent", "tracking_id"}` (`MailSentApiResponseSchema`).
 *
 * Correlation: neither endpoint takes a client-chosen id or an idempotency key (the SDK's
 * `SendMessageToChatBodySchema` is `text`, `thread_id`, `attachments`; `SendEmailInput` has none),
 * so a resend is a second message. What comes back:
 * - messaging: the answer's `message_id`, which is also the `message_id` of the account's own
 *   `message_received` Unipile posts for it ("sent messages are included",
 *   developer.unipile.com/docs/new-messages-webhook). When the answer is lost that echo is the
 *   evidence; there is no handle to read the chat's record by (`GET /api/v1/chats/{id}/messages`
 *   lists the account's messages, but only text and time could tie one to this reply, which two
 *   identical replies would confuse), so no `findSent`.
 * - e-mail: the answer's `tracking_id`, echoed by the `mail_sent` webhook of the mail
 *   (developer.unipile.com/docs/new-emails-webhook), and the reply's own id carried in the mail as
 *   the header `X-Onceflow-Message-Id` (a correlation handle in the provider's record: the Mail
 *   resource lists its `headers`, `mails/mail.types` in the SDK): `findSent` reads the account's
 *   sent mail to the recipient with headers and finds the reply by it.
 *
 * Outcomes, as for campaigns (`campaigns/whatsapp-client.ts`): a connection refused before sending
 * and any 4xx are *rejections* (429 retryable; the rest permanent: a wrong chat, account or key
 * does not heal by itself); a 5xx, a timeout, a reset, or a 2xx without an id are *unknown*: Unipile
 * relays to LinkedIn, Meta, Telegram or the mail server, and its error can follow their acceptance.
 */
import { NOT_SENT_CODES, networkErrorCode } from '../../kernel/outbound-errors.js';
import type {
  ProviderRecord,
  ReplyChannel,
  ReplyChannelName,
  ReplySend,
  ReplySendResult,
} from '../channel.js';

export type UnipileChannelName = Extract<
  ReplyChannelName,
  'linkedin' | 'instagram' | 'telegram' | 'email' | 'whatsapp_web'
>;

/** The header that carries the reply's own id in a mail sent through Unipile. */
export const CORRELATION_HEADER = 'X-Onceflow-Message-Id';

export interface UnipileChannelOptions {
  /** The tenant's API base URL: `https://<dsn>` (`unipileBaseUrl`); locally the simulator. */
  readonly baseUrl: (send: ReplySend) => string | Promise<string>;
  /** The tenant's Unipile access token (Secrets Manager). */
  readonly apiKey: (send: ReplySend) => Promise<string>;
  /** @default 15000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/**
 * `https://<dsn>` (the tenant schema allows only a host and port), unless `UNIPILE_API_BASE_URL`
 * points every tenant elsewhere, or the local runtime's simulator serves every provider.
 */
export function unipileBaseUrl(dsn: string, env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.UNIPILE_API_BASE_URL;
  if (configured) return configured.replace(/\/$/, '');
  // The local runtime: every provider is the simulator (as `whatsappApiBaseUrl`).
  if (env.ONCEFLOW_LOCAL === '1' && env.SIM_BASE_URL) return env.SIM_BASE_URL.replace(/\/$/, '');
  return `https://${dsn}`;
}

const CHAT_ID = /^[A-Za-z0-9_-]{1,256}$/;

const rejected = (
  retry: boolean,
  httpStatus: number,
  code: string | undefined,
  message: string,
): ReplySendResult => ({
  kind: 'rejected',
  retry,
  httpStatus,
  code,
  message: message.slice(0, 300),
});

/** The multipart fields of an e-mail reply (`SendEmailInput` of the SDK, JSON-encoded lists). */
export function emailFields(send: ReplySend): Record<string, string> {
  return {
    account_id: send.from,
    to: JSON.stringify([{ identifier: send.to }]),
    ...(send.subject ? { subject: send.subject } : {}),
    body: send.body ?? '',
    ...(send.replyTo ? { reply_to: send.replyTo } : {}),
    custom_headers: JSON.stringify([{ name: CORRELATION_HEADER, value: send.messageId }]),
  };
}

/** The multipart fields of a chat reply (`SendMessageToChatBodySchema`). */
export function chatFields(send: ReplySend): Record<string, string> {
  return { text: send.body ?? '' };
}

async function post(
  options: UnipileChannelOptions,
  send: ReplySend,
  path: string,
  fields: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> | undefined } | ReplySendResult> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  let response: Response;
  let text: string;
  try {
    response = await (options.fetch ?? fetch)(`${await options.baseUrl(send)}${path}`, {
      method: 'POST',
      headers: { 'X-API-KEY': await options.apiKey(send), accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    text = await response.text();
  } catch (error) {
    const code = networkErrorCode(error);
    if (code && NOT_SENT_CODES.has(code)) return rejected(true, 0, code, code);
    return { kind: 'unknown', reason: code ?? (error instanceof Error ? error.name : 'failed') };
  }
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    json = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

function classify(
  answer: { status: number; json: Record<string, unknown> | undefined },
  idField: 'message_id' | 'tracking_id',
): ReplySendResult {
  const { status, json } = answer;
  const type = typeof json?.type === 'string' ? json.type : undefined;
  if (status >= 200 && status < 300) {
    const id = json?.[idField];
    if (typeof id === 'string' && id !== '') return { kind: 'accepted', providerMessageId: id };
    return { kind: 'unknown', reason: `HTTP ${status} without ${idField}` };
  }
  if (status >= 500) return { kind: 'unknown', reason: `HTTP ${status} ${type ?? ''}`.trim() };
  const detail = typeof json?.detail === 'string' ? json.detail : `HTTP ${status}`;
  return rejected(status === 429, status, type, detail);
}

/** How many of the recipient's latest sent mails `findSent` reads (one page). */
const FIND_SENT_PAGE = 50;

/**
 * E-mail only: the account's sent mail to the recipient, with headers
 * (`GET /api/v1/emails?account_id&role=sent&any_email&include_headers=true`, `MailListQuerySchema`
 * of the SDK; a full mail lists `headers` and `tracking_id`), searched for the reply's
 * `X-Onceflow-Message-Id`. Found → the mail's `tracking_id`; a page without it → absent; an error →
 * unavailable (no evidence either way).
 */
async function findSentMail(
  options: UnipileChannelOptions,
  send: ReplySend,
): Promise<ProviderRecord> {
  const query = new URLSearchParams({
    account_id: send.from,
    role: 'sent',
    any_email: send.to,
    include_headers: 'true',
    limit: String(FIND_SENT_PAGE),
  });
  try {
    const response = await (options.fetch ?? fetch)(
      `${await options.baseUrl(send)}/api/v1/emails?${query}`,
      {
        headers: { 'X-API-KEY': await options.apiKey(send), accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      },
    );
    if (!response.ok) return { kind: 'unavailable' };
    const list = (await response.json()) as {
      items?: Array<{
        id?: string;
        tracking_id?: string;
        headers?: Array<{ name?: string; value?: string }>;
      }>;
    };
    const header = CORRELATION_HEADER.toLowerCase();
    const mail = (list.items ?? []).find((m) =>
      (m.headers ?? []).some((h) => h.name?.toLowerCase() === header && h.value === send.messageId),
    );
    const id = mail?.tracking_id ?? mail?.id;
    return id ? { kind: 'found', providerMessageId: id } : { kind: 'absent' };
  } catch {
    return { kind: 'unavailable' };
  }
}

export function createUnipileChannel(
  name: UnipileChannelName,
  options: UnipileChannelOptions,
): ReplyChannel {
  return {
    name,
    ...(name === 'email' ? { findSent: (send: ReplySend) => findSentMail(options, send) } : {}),
    async send(send: ReplySend): Promise<ReplySendResult> {
      if (!send.body) return rejected(false, 0, undefined, 'a Unipile reply needs a body');
      if (name === 'email') {
        const answer = await post(options, send, '/api/v1/emails', emailFields(send));
        return 'kind' in answer ? answer : classify(answer, 'tracking_id');
      }
      // The chat id is a path segment: never anything that could climb or leave the path.
      if (!CHAT_ID.test(send.to)) return rejected(false, 0, undefined, 'not a Unipile chat id');
      const path = `/api/v1/chats/${send.to}/messages`;
      const answer = await post(options, send, path, chatFields(send));
      return 'kind' in answer ? answer : classify(answer, 'message_id');
    },
  };
}
