/**
 * Replies by SMS through GoHighLevel's conversations API: the `ReplyChannel` of `sms`.
 *
 * Requests, as GoHighLevel's own OpenAPI definitions give them (GoHighLevel/highlevel-api-docs @
 * 0af86a4, `apps/conversations.json` and `apps/contacts.json`; base URL
 * `https://services.leadconnectorhq.com`, `Authorization: Bearer <sub-account token>`, a required
 * `Version` header per operation):
 * - `GET /contacts/search/duplicate?locationId&number` (`Version: 2021-07-28`): the location's
 *   contact of the person's phone. A reply knows the person by phone; GHL sends to a contact id.
 *   The 200 body is undeclared in the definitions; `{"contact": {"id", ...} | null}` is what it
 *   answers (UNCONFIRMED against a published schema). No contact → a permanent refusal.
 * - `POST /conversations/messages` (`Version: 2021-04-15`, `SendMessageBodyDto`): `{"type": "SMS",
 *   "contactId", "message"}` → `SendMessageResponseDto` `{"conversationId", "messageId", "msg"?,
 *   "status"}`. The `messageId` is the id of GHL's `OutboundMessage` webhook of the message
 *   (marketplace.gohighlevel.com/docs/webhook/OutboundMessage: `messageId`, `conversationId`,
 *   `direction: "outbound"`, `messageType: "SMS"`): the echo is filed under `messageKeys.ghl(id)`.
 *
 * Client id: none. `SendMessageBodyDto` has no client-chosen id or idempotency key (its fields are
 * the message's content, addressing and scheduling), so a resend is a second SMS. Unknown-outcome
 * evidence is a read of GHL's own record: `GET /conversations/search?locationId&contactId` → the
 * contact's conversation, then `GET /conversations/{conversationId}/messages?type=TYPE_SMS`
 * (`GetMessagesByConversationResponseDto`: `messages.messages[]` with `id`, `direction`, `body`,
 * `dateAdded`, newest first). Without a handle the match is by text and time: outbound SMS with the
 * reply's text added since the attempt was claimed. Exactly one → found; none → absent; two or
 * more → unavailable (the tenant's policy decides rather than a guess).
 *
 * Outcomes as for every channel: a connection refused before sending and any 4xx are rejections
 * (429 retryable), a 5xx, timeout, reset or a 2xx without `messageId` are unknown.
 */
import type { ProviderRecord, ReplyChannel, ReplySend, ReplySendResult } from '../channel.js';
import {
  type ProviderAnswer as Answer,
  callProvider,
  isResult,
  refusal as rejected,
} from './provider-http.js';

/** The `Version` header each operation requires (`apps/conversations.json`, `apps/contacts.json`). */
export const GHL_CONVERSATIONS_VERSION = '2021-04-15';
export const GHL_CONTACTS_VERSION = '2021-07-28';

export interface GhlChannelOptions {
  /** `https://services.leadconnectorhq.com` (`ghlApiBaseUrl`); locally the simulator. */
  readonly baseUrl: string;
  /** The location's (sub-account's) token, Secrets Manager per tenant (`deps.ts`). */
  readonly token: (send: ReplySend) => Promise<string | undefined>;
  /** @default 15000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** GHL's API, unless `GHL_API_BASE_URL` points elsewhere or the local runtime's simulator serves it. */
export function ghlApiBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.GHL_API_BASE_URL;
  if (configured) return configured.replace(/\/$/, '');
  if (env.ONCEFLOW_LOCAL === '1' && env.SIM_BASE_URL) return env.SIM_BASE_URL.replace(/\/$/, '');
  return 'https://services.leadconnectorhq.com';
}

/** How many of the conversation's latest SMS `findSent` reads (one page). */
const FIND_SENT_PAGE = 50;
const SKEW_MS = 60_000;

/** The body of `POST /conversations/messages` for an SMS (`SendMessageBodyDto`). */
export function sendSmsBody(contactId: string, send: ReplySend) {
  return { type: 'SMS' as const, contactId, message: send.body ?? '' };
}

async function request(
  options: GhlChannelOptions,
  send: ReplySend,
  init: { method: 'GET' | 'POST'; path: string; version: string; body?: unknown },
): Promise<Answer | ReplySendResult> {
  const token = await options.token(send);
  if (!token) return rejected(false, 0, 'no_credentials', 'the tenant has no GoHighLevel token');
  return callProvider(
    options.fetch ?? fetch,
    `${options.baseUrl}${init.path}`,
    {
      method: init.method,
      headers: {
        authorization: `Bearer ${token}`,
        version: init.version,
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    },
    options.timeoutMs ?? 15_000,
  );
}

/** GHL's error body: `{"statusCode", "message", "error"?}` (the 400/401 schemas of every operation). */
function refusal(answer: Answer): ReplySendResult {
  const message = answer.json?.message;
  return rejected(
    answer.status === 429,
    answer.status,
    `HTTP ${answer.status}`,
    Array.isArray(message)
      ? message.join('; ')
      : typeof message === 'string'
        ? message
        : `HTTP ${answer.status}`,
  );
}

/** The location's contact of the phone: its id, or a result that ends the send. */
async function contactOf(
  options: GhlChannelOptions,
  send: ReplySend,
): Promise<string | ReplySendResult> {
  const query = new URLSearchParams({ locationId: send.from, number: send.to });
  const answer = await request(options, send, {
    method: 'GET',
    path: `/contacts/search/duplicate?${query}`,
    version: GHL_CONTACTS_VERSION,
  });
  if (isResult(answer)) {
    // A lookup is a read: whatever became of it, nothing was sent, so it is retried later.
    return answer.kind === 'unknown' ? rejected(true, 0, undefined, answer.reason) : answer;
  }
  if (answer.status >= 500) return rejected(true, answer.status, undefined, 'contact lookup');
  if (answer.status !== 200) return refusal(answer);
  const id = (answer.json?.contact as { id?: unknown } | null | undefined)?.id;
  if (typeof id === 'string' && id !== '') return id;
  return rejected(false, 404, 'contact_not_found', 'no GoHighLevel contact has this phone');
}

async function findSentSms(options: GhlChannelOptions, send: ReplySend): Promise<ProviderRecord> {
  const contactId = await contactOf(options, send);
  if (typeof contactId !== 'string') return { kind: 'unavailable' };
  const search = await request(options, send, {
    method: 'GET',
    path: `/conversations/search?${new URLSearchParams({ locationId: send.from, contactId })}`,
    version: GHL_CONVERSATIONS_VERSION,
  });
  if (isResult(search) || search.status !== 200) return { kind: 'unavailable' };
  const conversations = search.json?.conversations;
  if (!Array.isArray(conversations)) return { kind: 'unavailable' };
  // The contact never had a conversation: nothing was ever sent to it.
  const conversationId = (conversations[0] as { id?: unknown } | undefined)?.id;
  if (typeof conversationId !== 'string') return { kind: 'absent' };
  const query = new URLSearchParams({ type: 'TYPE_SMS', limit: String(FIND_SENT_PAGE) });
  const listed = await request(options, send, {
    method: 'GET',
    path: `/conversations/${encodeURIComponent(conversationId)}/messages?${query}`,
    version: GHL_CONVERSATIONS_VERSION,
  });
  if (isResult(listed) || listed.status !== 200) return { kind: 'unavailable' };
  const messages = (listed.json?.messages as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages)) return { kind: 'unavailable' };
  const since = send.sendingSince ? Date.parse(send.sendingSince) - SKEW_MS : 0;
  const matches = (
    messages as Array<{ id?: string; direction?: string; body?: string; dateAdded?: string }>
  ).filter(
    (m) =>
      typeof m.id === 'string' &&
      m.direction === 'outbound' &&
      m.body === send.body &&
      Date.parse(m.dateAdded ?? '') >= since,
  );
  const [only, ...more] = matches;
  if (!only?.id) return { kind: 'absent' };
  if (more.length > 0) return { kind: 'unavailable' };
  return { kind: 'found', providerMessageId: only.id };
}

export function createGhlChannel(options: GhlChannelOptions): ReplyChannel {
  return {
    name: 'sms',
    findSent: (send) => findSentSms(options, send),
    async send(send: ReplySend): Promise<ReplySendResult> {
      if (!send.body) return rejected(false, 0, undefined, 'an SMS reply needs a body');
      const contactId = await contactOf(options, send);
      if (typeof contactId !== 'string') return contactId;
      const answer = await request(options, send, {
        method: 'POST',
        path: '/conversations/messages',
        version: GHL_CONVERSATIONS_VERSION,
        body: sendSmsBody(contactId, send),
      });
      if (isResult(answer)) return answer;
      if (answer.status >= 200 && answer.status < 300) {
        const id = answer.json?.messageId;
        if (typeof id === 'string' && id !== '') return { kind: 'accepted', providerMessageId: id };
        return { kind: 'unknown', reason: `HTTP ${answer.status} without messageId` };
      }
      if (answer.status >= 500) return { kind: 'unknown', reason: `HTTP ${answer.status}` };
      return refusal(answer);
    },
  };
}
