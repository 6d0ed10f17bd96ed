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
import { checkTarget, ForbiddenTargetError, type Resolver } from '../../kernel/ssrf.js';
import * as z from '../../kernel/zod.js';
import type {
  ProviderRecord,
  ReplyChannel,
  ReplyChannelName,
  ReplySend,
  ReplySendResult,
} from '../channel.js';
import {
  callProvider,
  isResult,
  type ProviderAnswer,
  refusal as rejected,
} from './provider-http.js';

export type UnipileChannelName = Extract<
  ReplyChannelName,
  'linkedin' | 'instagram' | 'telegram' | 'email' | 'whatsapp_web'
>;

/** The header that carries the reply's own id in a mail sent through Unipile. */
export const CORRELATION_HEADER = 'X-Onceflow-Message-Id';

export interface UnipileChannelOptions {
  /**
   * The tenant's API base URL: `https://<dsn>` checked by the SSRF guard (`unipileBaseUrl`);
   * locally the simulator. Throws when the tenant has none or it is refused: nothing is sent.
   */
  readonly baseUrl: (send: ReplySend) => string | Promise<string>;
  /** The tenant's Unipile access token (sealed in the tenants table). Throws when it gave none. */
  readonly apiKey: (send: ReplySend) => Promise<string>;
  /** @default 15000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** The clock `findSent` judges the sync lag by (epoch ms). @default Date.now */
  readonly now?: () => number;
  /** Mails per page of the sent-mail read (1-250, the SDK's `ListLimitQuerySchema`). @default 100 */
  readonly findSentPageSize?: number;
}

/** The tenant has no usable Unipile configuration (no DSN, no key, or a refused DSN). */
export class UnipileNotConfiguredError extends Error {
  override name = 'UnipileNotConfiguredError';
}

/**
 * The API base every tenant's calls go to instead of its DSN: `UNIPILE_API_BASE_URL` (operator
 * configuration), or the local runtime's simulator, which serves every provider.
 */
function configuredBase(env: NodeJS.ProcessEnv): string | undefined {
  const configured = env.UNIPILE_API_BASE_URL;
  if (configured) return configured.replace(/\/$/, '');
  if (env.ONCEFLOW_LOCAL === '1' && env.SIM_BASE_URL) return env.SIM_BASE_URL.replace(/\/$/, '');
  return undefined;
}

/** `https://<dsn>` (the tenant schema allows only a host and port), unless configured otherwise. */
export function unipileBaseUrl(dsn: string, env: NodeJS.ProcessEnv = process.env): string {
  return configuredBase(env) ?? `https://${dsn}`;
}

/**
 * The tenant's base URL, its DSN checked by the SSRF guard first (`kernel/ssrf.ts`: https, and
 * every address the host resolves to public unicast): a DSN is tenant-given, and a host such as
 * `metadata.internal:80` or one resolving to 10.0.0.5 would aim the sender (with the tenant's key) at
 * the platform's own network. Checked on every send, not cached, so a DNS answer that changes
 * later is seen. A base configured by the operator is not tenant-given and is not checked.
 */
export async function checkedUnipileBaseUrl(
  dsn: string,
  resolver: Resolver,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const configured = configuredBase(env);
  if (configured) return configured;
  const url = `https://${dsn}`;
  try {
    await checkTarget(url, resolver, { allowLoopbackHttp: false });
  } catch (error) {
    const why = error instanceof ForbiddenTargetError ? error.message : 'the DSN is refused';
    throw new UnipileNotConfiguredError(`Unipile DSN refused: ${why}`);
  }
  return url;
}

const CHAT_ID = /^[A-Za-z0-9_-]{1,256}$/;

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
): Promise<ProviderAnswer | ReplySendResult> {
  // Where and with what key: resolved before anything is sent, so a tenant without a key, or with
  // a DSN the SSRF guard refuses, is a rejection (nothing left the service), never an unknown.
  let access: { base: string; key: string };
  try {
    access = { base: await options.baseUrl(send), key: await options.apiKey(send) };
  } catch (error) {
    const message = error instanceof Error ? error.message : 'not configured';
    return rejected(false, 0, 'unipile_not_configured', message);
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return callProvider(
    options.fetch ?? fetch,
    `${access.base}${path}`,
    {
      method: 'POST',
      headers: { 'X-API-KEY': access.key, accept: 'application/json' },
      body: form,
      redirect: 'manual',
    },
    options.timeoutMs ?? 15_000,
  );
}

function classify(answer: ProviderAnswer, idField: 'message_id' | 'tracking_id'): ReplySendResult {
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

/**
 * The sent-mail listing as `findSent` reads it: the SDK's `MailListApiResponseSchema`
 * (`mails/mails-list.types`: `{object: "EmailList", items, cursor}`, a full mail with `id`,
 * `tracking_id` and, with `include_headers`, `headers: [{name, value}]`). Loose: fields Unipile adds
 * are kept, never a reason to refuse the evidence.
 */
const mailListSchema = z.looseObject({
  object: z.literal('EmailList'),
  items: z.array(
    z.looseObject({
      id: z.optional(z.string()),
      tracking_id: z.nullish(z.string()),
      headers: z.nullish(
        z.array(z.looseObject({ name: z.optional(z.string()), value: z.optional(z.string()) })),
      ),
    }),
  ),
  cursor: z.nullish(z.string()),
});

/**
 * How many pages `findSent` reads (100 mails each by default: the recipient's latest 1,000 sent
 * mails). A reply whose mail is not within them is not proven absent: the read says `unavailable`
 * and the tenant's policy decides, as it would with no evidence at all.
 */
export const FIND_SENT_MAX_PAGES = 10;

/**
 * How long after a send its mail may still be missing from the Sent listing: Unipile syncs the
 * mailbox from Google, Microsoft or IMAP and documents e-mail events "up to 10 seconds" late
 * (developer.unipile.com/v2.0/docs/realtime); a mail server may take longer to file a sent copy.
 * Until 5 minutes (30 × that) after the attempt began, a listing without the mail is not proof of
 * absence (`unavailable`: the reconcile sweep looks again). The reconcile window (600 s by default)
 * already exceeds it; the bound holds whatever the window is configured to.
 */
export const SENT_MAIL_SYNC_LAG_MS = 5 * 60_000;

/**
 * E-mail only: the account's sent mail to the recipient, with headers
 * (`GET /api/v1/emails?account_id&role=sent&any_email&include_headers=true&limit`, then the answer's
 * `cursor` alone: with a cursor Unipile ignores the other query parameters, `MailListQuerySchema`),
 * searched for the reply's `X-Onceflow-Message-Id`. Found → the mail's `tracking_id`; every page read
 * without it, past the sync lag → absent; an error, an answer not in the SDK's shape, the page bound
 * or a read within the sync lag → unavailable (no evidence either way).
 */
async function findSentMail(
  options: UnipileChannelOptions,
  send: ReplySend,
): Promise<ProviderRecord> {
  const pageSize = String(options.findSentPageSize ?? 100);
  const header = CORRELATION_HEADER.toLowerCase();
  try {
    const base = await options.baseUrl(send);
    const key = await options.apiKey(send);
    let query = new URLSearchParams({
      account_id: send.from,
      role: 'sent',
      any_email: send.to,
      include_headers: 'true',
      limit: pageSize,
    });
    for (let page = 0; page < FIND_SENT_MAX_PAGES; page++) {
      const response = await (options.fetch ?? fetch)(`${base}/api/v1/emails?${query}`, {
        headers: { 'X-API-KEY': key, accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
        redirect: 'manual',
      });
      if (!response.ok) return { kind: 'unavailable' };
      const list = mailListSchema.safeParse(await response.json());
      if (!list.success) return { kind: 'unavailable' };
      const mail = list.data.items.find((m) =>
        (m.headers ?? []).some(
          (h) => h.name?.toLowerCase() === header && h.value === send.messageId,
        ),
      );
      const id = mail ? (mail.tracking_id ?? mail.id) : undefined;
      if (id) return { kind: 'found', providerMessageId: id };
      if (!list.data.cursor) return absentAfterLag(options, send);
      query = new URLSearchParams({ cursor: list.data.cursor, limit: pageSize });
    }
    return { kind: 'unavailable' };
  } catch {
    return { kind: 'unavailable' };
  }
}

/** Absent only once the attempt is older than the sync lag; before that, no evidence yet. */
function absentAfterLag(options: UnipileChannelOptions, send: ReplySend): ProviderRecord {
  const since = send.sendingSince ? Date.parse(send.sendingSince) : Number.NaN;
  const now = (options.now ?? Date.now)();
  return Number.isFinite(since) && since + SENT_MAIL_SYNC_LAG_MS <= now
    ? { kind: 'absent' }
    : { kind: 'unavailable' };
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
        return isResult(answer) ? answer : classify(answer, 'tracking_id');
      }
      // The chat id is a path segment: never anything that could climb or leave the path.
      if (!CHAT_ID.test(send.to)) return rejected(false, 0, undefined, 'not a Unipile chat id');
      const path = `/api/v1/chats/${send.to}/messages`;
      const answer = await post(options, send, path, chatFields(send));
      return isResult(answer) ? answer : classify(answer, 'message_id');
    },
  };
}
