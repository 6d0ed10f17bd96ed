/**
 * The Unipile API simulator (part of the provider simulators on SIM_PORT), built from Unipile's
 * own definitions: `unipile-node-sdk` 1.9.3 (request bodies and answer schemas; the SDK sends both
 * sends as `multipart/form-data` with the key in `X-API-KEY`, `request-sender.js`) and the webhook
 * pages of developer.unipile.com.
 *
 * - `POST /api/v1/webhooks` — register a webhook as Unipile's API does (`WebhookCreateBodySchema`:
 *   `request_url`, `source` `messaging` | `email` | ..., `account_ids`, `headers` `[{key, value}]`,
 *   `events`) → 201 `{"object": "WebhookCreated", "webhook_id"}`. The custom headers are how the
 *   tenant's webhook token reaches `/webhooks/unipile`; only URLs under the API's base URL are
 *   delivered to.
 * - `POST /api/v1/chats/{chat_id}/messages` — multipart `text` (`SendMessageToChatBodySchema`) →
 *   201 `{"object": "MessageSent", "message_id"}`; then the account's own `message_received`
 *   (sender = `account_info.user_id`, "sent messages are included",
 *   developer.unipile.com/docs/new-messages-webhook) to every messaging webhook of the account.
 *   A chat the simulator never saw is 404 `errors/resource_not_found`.
 * - `POST /api/v1/emails` — multipart `account_id`, `to` (JSON `[{identifier, display_name?}]`),
 *   `subject`, `body`, `reply_to` (the Unipile `email_id` replied to), `custom_headers` (JSON
 *   `[{name, value}]`) → 201 `{"object": "EmailSent", "tracking_id"}` (`MailSentApiResponseSchema`);
 *   then `mail_sent` (`origin: "unipile"`, the same `tracking_id`, a fresh RFC `Message-ID`) to
 *   every e-mail webhook of the account (developer.unipile.com/docs/new-emails-webhook: the New
 *   email webhook reports mail "received or sent").
 * - `GET /api/v1/emails?account_id=&role=sent&any_email=&include_headers=true` — the mails sent,
 *   as full mails with their `headers` (`MailListApiResponseSchema`), so a lost answer can be
 *   reconciled from the provider's own record.
 * - `POST /_sim/unipile/events` — a Unipile webhook payload (the tests' fixtures) delivered to the
 *   account's webhooks as Unipile would; the simulator learns the chat's attendees and the
 *   account's own user from it, so a send to that chat echoes the right people.
 * - `GET /_sim/unipile/messages` → `{"messages": [{kind, accountId, chatId?, to?, text, messageId?,
 *   trackingId?, emailId?, customHeaders?, acceptedAt}], "deliveries"}`; `POST /_sim/reset` clears.
 * - Faults under `unipile` (`faults.ts`): `errorRate`, `lostResponseRate`, `latencyMs`.
 *
 * Errors are Unipile's problem-details shape, `{"status", "type": "errors/<name>", "title",
 * "detail"}` (seen in client code handling `errors/invalid_parameters` answers, e.g. a 400
 * "User ID does not match provider's expected format"); the other `type` names here are UNCONFIRMED
 * against a published list. Webhooks are delivered as Unipile delivers them (`delivery.ts`
 * `unipilePolicy`: 200 within 30 s, else five retries).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock } from '../../../functions/kernel/clock.js';
import { readBody, readJson, sendJson } from '../http-util.js';
import { createDeliveryQueue, unipilePolicy } from './delivery.js';
import { FaultStore, faultMethods, unipileFaultsSchema } from './faults.js';
import type { SimulatorContext, SimulatorFactory } from './index.js';
import { openJournal } from './journal.js';

interface Attendee {
  readonly attendee_id?: string;
  readonly attendee_name?: string;
  readonly attendee_provider_id?: string;
  readonly attendee_profile_url?: string;
}

interface Webhook {
  readonly id: string;
  readonly source: string;
  /** The path (and query) under the API's base URL. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly accountIds?: readonly string[];
  readonly events?: readonly string[];
  readonly name?: string;
}

interface Chat {
  readonly chatId: string;
  readonly accountId: string;
  readonly accountType: string;
  readonly attendees: readonly Attendee[];
}

interface Account {
  readonly accountId: string;
  readonly type: string;
  readonly userId: string;
}

export interface UnipileSend {
  readonly kind: 'message' | 'email';
  readonly accountId: string;
  readonly chatId?: string;
  readonly to?: readonly { identifier: string; display_name?: string }[];
  readonly subject?: string;
  readonly text: string;
  readonly replyTo?: string;
  readonly customHeaders?: readonly { name: string; value: string }[];
  /** The form fields as received (tests check them against the SDK's body schema). */
  readonly fields: Readonly<Record<string, string>>;
  readonly messageId?: string;
  readonly trackingId?: string;
  readonly emailId?: string;
  readonly rfcMessageId?: string;
  readonly acceptedAt: string;
}

type UnipileEvent =
  | { readonly t: 'webhook'; readonly webhook: Webhook }
  | { readonly t: 'chat'; readonly chat: Chat }
  | { readonly t: 'account'; readonly account: Account }
  | { readonly t: 'accepted'; readonly send: UnipileSend };

const SEND_MESSAGE = /^\/api\/v1\/chats\/([A-Za-z0-9_-]{1,256})\/messages$/;

/** Unipile-style ids: 22 url-safe characters (`ykmhfXlRW0W_cqReJYrfBw`). */
export function unipileId(): string {
  return randomBytes(16).toString('base64url').slice(0, 22);
}

function problem(res: ServerResponse, status: number, type: string, title: string, detail: string) {
  sendJson(res, status, { status, type: `errors/${type}`, title, detail });
}

/** The own user a simulated account has until an event names it (LinkedIn-like provider id). */
export function simUserId(accountId: string): string {
  return `ACoAASim${accountId}`;
}

export const unipileSimulator: SimulatorFactory = (context: SimulatorContext) => {
  const faults = new FaultStore(unipileFaultsSchema);
  const journal = openJournal<UnipileEvent>(context, 'unipile');
  const webhooks = new Map<string, Webhook>();
  const chats = new Map<string, Chat>();
  const accounts = new Map<string, Account>();
  const sends: UnipileSend[] = [];
  const deliveries = createDeliveryQueue(context, { name: 'unipile', policy: unipilePolicy() });

  for (const event of journal.replayed) apply(event);

  function apply(event: UnipileEvent): void {
    if (event.t === 'webhook') webhooks.set(event.webhook.id, event.webhook);
    else if (event.t === 'chat') chats.set(event.chat.chatId, event.chat);
    else if (event.t === 'account') accounts.set(event.account.accountId, event.account);
    else sends.push(event.send);
  }
  function remember(event: UnipileEvent): void {
    apply(event);
    journal.record(event);
  }

  function accountOf(accountId: string, type = 'LINKEDIN'): Account {
    return accounts.get(accountId) ?? { accountId, type, userId: simUserId(accountId) };
  }

  /** Posts a payload to every webhook of its source that covers the account and the event. */
  function deliver(source: string, payload: Record<string, unknown>): number {
    const accountId = String(payload.account_id ?? '');
    const event = String(payload.event ?? '');
    let delivered = 0;
    for (const hook of webhooks.values()) {
      if (hook.source !== source) continue;
      if (hook.accountIds && hook.accountIds.length > 0 && !hook.accountIds.includes(accountId))
        continue;
      if (hook.events && hook.events.length > 0 && !hook.events.includes(event)) continue;
      const body = JSON.stringify(hook.name ? { ...payload, webhook_name: hook.name } : payload);
      deliveries.enqueue({
        path: hook.path,
        headers: { 'content-type': 'application/json', ...hook.headers },
        body,
      });
      delivered += 1;
    }
    return delivered;
  }

  function authorized(req: IncomingMessage, res: ServerResponse): boolean {
    const key = req.headers['x-api-key'];
    if (typeof key === 'string' && key.trim() !== '') return true;
    problem(
      res,
      401,
      'missing_credentials',
      'Missing credentials',
      'The X-API-KEY header is required.',
    );
    return false;
  }

  /** The form fields of a `multipart/form-data` (or urlencoded) body, as the SDK sends them. */
  async function formFields(req: IncomingMessage): Promise<Record<string, string> | undefined> {
    const type = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data|^application\/x-www-form-urlencoded/i.test(type)) return undefined;
    const raw = await readBody(req);
    try {
      const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
      const fields: Record<string, string> = {};
      for (const [name, value] of form.entries()) {
        if (typeof value === 'string') fields[name] = value;
      }
      return fields;
    } catch {
      return undefined;
    }
  }

  /** Faults before anything is accepted: `true` when the request was answered with one. */
  async function refusedByFault(res: ServerResponse): Promise<boolean> {
    const current = faults.get();
    if (current.latencyMs > 0) await new Promise((r) => setTimeout(r, current.latencyMs));
    if (Math.random() >= current.errorRate) return false;
    if (Math.random() < 0.5) {
      problem(res, 429, 'too_many_requests', 'Too many requests', 'Retry later.');
    } else {
      problem(res, 500, 'unexpected_error', 'Unexpected error', 'Something went wrong.');
    }
    return true;
  }

  /** Accepted and recorded: the answer, unless the fault loses it. */
  function answer(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    if (Math.random() < faults.get().lostResponseRate) {
      req.socket.destroy();
      return;
    }
    sendJson(res, 201, body);
  }

  async function handleSendMessage(req: IncomingMessage, res: ServerResponse, chatId: string) {
    if (!authorized(req, res)) return;
    const fields = await formFields(req);
    if (!fields) {
      problem(
        res,
        400,
        'invalid_parameters',
        'Invalid parameters',
        'Expected multipart/form-data.',
      );
      return;
    }
    const text = fields.text ?? '';
    if (text === '') {
      problem(res, 400, 'invalid_parameters', 'Invalid parameters', 'text is required.');
      return;
    }
    const chat = chats.get(chatId);
    if (!chat) {
      problem(res, 404, 'resource_not_found', 'Resource not found', `Chat ${chatId} not found.`);
      return;
    }
    if (await refusedByFault(res)) return;
    const account = accountOf(chat.accountId, chat.accountType);
    const send: UnipileSend = {
      kind: 'message',
      accountId: chat.accountId,
      chatId,
      text,
      fields,
      messageId: unipileId(),
      acceptedAt: new Date(systemClock.now()).toISOString(),
    };
    remember({ t: 'accepted', send });
    deliver('messaging', {
      account_id: chat.accountId,
      account_type: chat.accountType,
      account_info: { type: chat.accountType, feature: 'classic', user_id: account.userId },
      event: 'message_received',
      chat_id: chatId,
      timestamp: send.acceptedAt,
      message_id: send.messageId,
      message: text,
      sender: {
        attendee_id: unipileId(),
        attendee_name: 'Me',
        attendee_provider_id: account.userId,
      },
      attendees: chat.attendees,
    });
    answer(req, res, { object: 'MessageSent', message_id: send.messageId });
  }

  async function handleSendEmail(req: IncomingMessage, res: ServerResponse) {
    if (!authorized(req, res)) return;
    const fields = await formFields(req);
    const invalid = (detail: string) =>
      problem(res, 400, 'invalid_parameters', 'Invalid parameters', detail);
    if (!fields) return invalid('Expected multipart/form-data.');
    if (!fields.account_id) return invalid('account_id is required.');
    if (fields.body === undefined) return invalid('body is required.');
    let to: { identifier: string; display_name?: string }[];
    let customHeaders: { name: string; value: string }[] | undefined;
    try {
      to = JSON.parse(fields.to ?? '');
      customHeaders = fields.custom_headers ? JSON.parse(fields.custom_headers) : undefined;
    } catch {
      return invalid('to and custom_headers are JSON arrays.');
    }
    if (!Array.isArray(to) || to.length === 0 || to.some((a) => typeof a?.identifier !== 'string'))
      return invalid('to is a non-empty list of {identifier}.');
    if (await refusedByFault(res)) return;
    const send: UnipileSend = {
      kind: 'email',
      accountId: fields.account_id,
      to,
      ...(fields.subject ? { subject: fields.subject } : {}),
      text: fields.body,
      ...(fields.reply_to ? { replyTo: fields.reply_to } : {}),
      ...(customHeaders ? { customHeaders } : {}),
      fields,
      trackingId: unipileId(),
      emailId: unipileId(),
      rfcMessageId: `<${unipileId()}@sim.unipile.local>`,
      acceptedAt: new Date(systemClock.now()).toISOString(),
    };
    remember({ t: 'accepted', send });
    deliver('email', {
      email_id: send.emailId,
      account_id: send.accountId,
      event: 'mail_sent',
      date: send.acceptedAt,
      from_attendee: {
        display_name: 'Me',
        identifier: `${send.accountId.toLowerCase()}@sim.unipile.local`,
        identifier_type: 'EMAIL_ADDRESS',
      },
      to_attendees: to.map((a) => ({ ...a, identifier_type: 'EMAIL_ADDRESS' })),
      cc_attendees: [],
      bcc_attendees: [],
      reply_to_attendees: [],
      message_id: send.rfcMessageId,
      has_attachments: false,
      subject: send.subject ?? '',
      body: send.text,
      body_plain: send.text,
      attachments: [],
      folders: ['Sent'],
      role: 'sent',
      read_date: null,
      is_complete: true,
      in_reply_to: send.replyTo ? { id: send.replyTo } : null,
      tracking_id: send.trackingId,
      origin: 'unipile',
    });
    answer(req, res, { object: 'EmailSent', tracking_id: send.trackingId });
  }

  /**
   * `GET /api/v1/emails` (`MailListQuerySchema`: `account_id`, `role`, `any_email`,
   * `include_headers`) → `{"object": "EmailList", "items", "cursor"}`, the mails this simulator
   * sent, newest first, as full mails (`kind: "2_full"`) with their `headers` when asked.
   */
  function handleListEmails(req: IncomingMessage, res: ServerResponse, url: URL) {
    if (!authorized(req, res)) return;
    // With a `cursor`, Unipile ignores the other parameters (`MailListQuerySchema`): the cursor
    // carries the query and where the next page starts (`limit` 1-250, `ListLimitQuerySchema`).
    let q = url.searchParams;
    let offset = 0;
    const cursor = q.get('cursor');
    if (cursor) {
      try {
        const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
          q: string;
          offset: number;
        };
        q = new URLSearchParams(decoded.q);
        offset = decoded.offset;
      } catch {
        sendJson(res, 400, { status: 400, type: 'errors/invalid_parameters', title: 'Bad cursor' });
        return;
      }
    }
    const limit = Math.min(
      250,
      Math.max(1, Number(url.searchParams.get('limit') ?? q.get('limit') ?? 100) || 100),
    );
    const role = q.get('role');
    const anyEmail = q.get('any_email')?.toLowerCase();
    // Everything this simulator sent is in the Sent folder: any other role lists nothing.
    const items = (!role || role === 'sent' ? sends : [])
      .filter((m) => m.kind === 'email')
      .filter((m) => !q.get('account_id') || m.accountId === q.get('account_id'))
      .filter((m) => !anyEmail || m.to?.some((a) => a.identifier.toLowerCase() === anyEmail))
      .slice()
      .reverse()
      .map((m) => ({
        object: 'Email',
        id: m.emailId,
        account_id: m.accountId,
        type: 'MAIL',
        date: m.acceptedAt,
        role: 'sent',
        folders: ['Sent'],
        folderIds: ['sent'],
        read_date: null,
        message_id: m.rfcMessageId,
        provider_id: JSON.stringify({ message_id: m.rfcMessageId }),
        from_attendee: {
          display_name: 'Me',
          identifier: `${m.accountId.toLowerCase()}@sim.unipile.local`,
          identifier_type: 'EMAIL_ADDRESS',
        },
        to_attendees: (m.to ?? []).map((a) => ({ ...a, identifier_type: 'EMAIL_ADDRESS' })),
        cc_attendees: [],
        bcc_attendees: [],
        reply_to_attendees: [],
        subject: m.subject ?? '',
        has_attachments: false,
        origin: 'unipile',
        ...(m.replyTo ? { in_reply_to: { id: m.replyTo } } : {}),
        tracking_id: m.trackingId,
        attachments: [],
        kind: '2_full',
        body_plain: m.text,
        body: m.text,
        ...(q.get('include_headers') === 'true'
          ? {
              headers: [
                { name: 'Message-ID', value: m.rfcMessageId ?? '' },
                ...(m.customHeaders ?? []),
              ],
            }
          : {}),
      }));
    const page = items.slice(offset, offset + limit);
    const next =
      offset + limit < items.length
        ? Buffer.from(JSON.stringify({ q: q.toString(), offset: offset + limit })).toString(
            'base64url',
          )
        : null;
    sendJson(res, 200, { object: 'EmailList', items: page, cursor: next });
  }

  async function handleCreateWebhook(req: IncomingMessage, res: ServerResponse) {
    if (!authorized(req, res)) return;
    const body = (await readJson(req).catch(() => undefined)) as
      | {
          request_url?: unknown;
          source?: unknown;
          headers?: unknown;
          account_ids?: unknown;
          events?: unknown;
          name?: unknown;
        }
      | undefined;
    const invalid = (detail: string) =>
      problem(res, 400, 'invalid_parameters', 'Invalid parameters', detail);
    if (typeof body?.request_url !== 'string' || typeof body.source !== 'string')
      return invalid('request_url and source are required.');
    const base = new URL(context.apiBaseUrl);
    let target: URL;
    try {
      target = new URL(body.request_url);
    } catch {
      return invalid('request_url is not a URL.');
    }
    // Only the onceflow API this runtime serves is ever called (never an arbitrary URL).
    if (target.origin !== base.origin) return invalid('request_url must be the onceflow API.');
    const headers: Record<string, string> = {};
    if (Array.isArray(body.headers)) {
      for (const h of body.headers as Array<{ key?: unknown; value?: unknown }>) {
        if (typeof h?.key === 'string' && typeof h.value === 'string') headers[h.key] = h.value;
      }
    }
    const strings = (v: unknown) =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
    const accountIds = strings(body.account_ids);
    const events = strings(body.events);
    const webhook: Webhook = {
      id: unipileId(),
      source: body.source,
      path: `${target.pathname}${target.search}`,
      headers,
      ...(accountIds ? { accountIds } : {}),
      ...(events ? { events } : {}),
      ...(typeof body.name === 'string' ? { name: body.name } : {}),
    };
    remember({ t: 'webhook', webhook });
    sendJson(res, 201, { object: 'WebhookCreated', webhook_id: webhook.id });
  }

  /** A test's inbound event: learned from, then delivered as Unipile would. */
  async function handleInboundEvent(req: IncomingMessage, res: ServerResponse) {
    const payload = (await readJson(req).catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    if (!payload || typeof payload.account_id !== 'string' || typeof payload.event !== 'string') {
      sendJson(res, 400, { error: 'a Unipile webhook payload with account_id and event' });
      return;
    }
    const isMail = payload.event.startsWith('mail_');
    if (!isMail && typeof payload.chat_id === 'string') {
      const info = payload.account_info as { user_id?: string; type?: string } | undefined;
      const type = String(payload.account_type ?? info?.type ?? 'LINKEDIN');
      const account = accountOf(payload.account_id, type);
      const userId = info?.user_id ?? account.userId;
      if (!accounts.has(payload.account_id) || account.userId !== userId) {
        remember({ t: 'account', account: { accountId: payload.account_id, type, userId } });
      }
      const attendees = [
        ...((payload.attendees as Attendee[] | undefined) ?? []),
        ...(payload.sender ? [payload.sender as Attendee] : []),
      ].filter(
        (a, i, all) =>
          a.attendee_provider_id !== userId &&
          all.findIndex((b) => b.attendee_provider_id === a.attendee_provider_id) === i,
      );
      remember({
        t: 'chat',
        chat: {
          chatId: payload.chat_id,
          accountId: payload.account_id,
          accountType: type,
          attendees,
        },
      });
    }
    const delivered = deliver(isMail ? 'email' : 'messaging', payload);
    sendJson(res, 202, { delivered });
  }

  return {
    name: 'unipile',
    async handle(req, res, url) {
      if (req.method === 'GET' && url.pathname === '/_sim/unipile/messages') {
        sendJson(res, 200, { messages: sends, deliveries: deliveries.stats() });
        return true;
      }
      if (req.method === 'POST' && url.pathname === '/_sim/unipile/events') {
        await handleInboundEvent(req, res);
        return true;
      }
      if (req.method === 'POST' && url.pathname === '/api/v1/webhooks') {
        await handleCreateWebhook(req, res);
        return true;
      }
      if (req.method === 'GET' && url.pathname === '/api/v1/emails') {
        handleListEmails(req, res, url);
        return true;
      }
      if (req.method === 'POST' && url.pathname === '/api/v1/emails') {
        await handleSendEmail(req, res);
        return true;
      }
      const chat = SEND_MESSAGE.exec(url.pathname);
      if (chat && req.method === 'POST') {
        await handleSendMessage(req, res, chat[1] ?? '');
        return true;
      }
      return false;
    },
    reset() {
      webhooks.clear();
      chats.clear();
      accounts.clear();
      sends.length = 0;
      journal.clear();
      deliveries.reset();
    },
    ...faultMethods(faults),
    close() {
      deliveries.close();
    },
  };
};
