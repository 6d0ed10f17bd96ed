/**
 * The GoHighLevel API simulator (SMS through a location's conversations), built from GoHighLevel's
 * own OpenAPI definitions (GoHighLevel/highlevel-api-docs @ 0af86a4, `apps/conversations.json`,
 * `apps/contacts.json`). Every call needs `Authorization: Bearer <token>` and the operation's
 * `Version` header, else 401 / 400 in GHL's error shape `{"statusCode", "message", "error"?}`.
 *
 * - `GET /contacts/search/duplicate?locationId&number` (`Version: 2021-07-28`) → `{"contact":
 *   {"id", "locationId", "phone"}}`. A location here has a contact for every phone (GHL makes one
 *   for every inbound SMS, the only way a person reaches onceflow on this channel); its id is
 *   derived from the location and phone, so it is stable across restarts.
 * - `POST /conversations/messages` (`Version: 2021-04-15`, `SendMessageBodyDto`: `type`,
 *   `contactId`, `message`) → 200 `SendMessageResponseDto` `{"conversationId", "messageId", "msg",
 *   "status"}`; then, when a marketplace webhook is set (`POST /_sim/ghl/webhook` `{"url",
 *   "headers"?}`: GHL's app-level webhook URL), the `OutboundMessage` event of the message
 *   (marketplace.gohighlevel.com/docs/webhook/OutboundMessage).
 * - `GET /conversations/search?locationId&contactId` → `{"conversations": [{id, contactId,
 *   locationId, ...}], "total"}`; `GET /conversations/{conversationId}/messages` →
 *   `{"messages": {"lastMessageId", "nextPage", "messages": [GetMessageResponseDto]}}`, newest
 *   first: the record a lost answer is reconciled from.
 * - `GET /_sim/ghl/messages` → `{"messages": [{locationId, contactId, conversationId, messageId,
 *   body, phone, acceptedAt, request}], "deliveries"}`; `POST /_sim/reset` clears.
 * - Faults under `ghl`: `errorRate` (half 429, half 500, nothing sent), `lostResponseRate`,
 *   `latencyMs`.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock } from '../../../functions/kernel/clock.js';
import { readJson, sendJson } from '../http-util.js';
import { createDeliveryQueue, type DeliveryPolicy } from './delivery.js';
import { FaultStore, faultMethods, ghlFaultsSchema } from './faults.js';
import type { SimulatorContext, SimulatorFactory } from './index.js';
import { openJournal } from './journal.js';

export interface GhlSend {
  readonly locationId: string;
  readonly contactId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly phone: string;
  readonly body: string;
  /** The request body as received (tests check it against `SendMessageBodyDto`). */
  readonly request: Readonly<Record<string, unknown>>;
  readonly acceptedAt: string;
}

interface Contact {
  readonly id: string;
  readonly locationId: string;
  readonly phone: string;
}

type GhlEvent =
  | { readonly t: 'contact'; readonly contact: Contact }
  | { readonly t: 'webhook'; readonly path: string; readonly headers: Record<string, string> }
  | { readonly t: 'accepted'; readonly send: GhlSend };

/** GHL ids: 20 characters of letters and digits (`t22c6DQcTDf3MjRhwf77`). */
function ghlId(...parts: string[]): string {
  return createHash('sha256')
    .update(parts.join('|'))
    .digest('base64url')
    .replace(/[-_]/g, 'x')
    .slice(0, 20);
}

const CONVERSATION_MESSAGES = /^\/conversations\/([A-Za-z0-9]{1,64})\/messages$/;

/** GHL's webhook retries are not published: received on 2xx, else retried a few times a minute apart. */
function ghlPolicy(): DeliveryPolicy {
  return {
    timeoutMs: 30_000,
    received: (status) => status >= 200 && status < 300,
    retryAfterMs: (attempts) => (attempts < 3 ? 60_000 : undefined),
  };
}

export const ghlSimulator: SimulatorFactory = (context: SimulatorContext) => {
  const faults = new FaultStore(ghlFaultsSchema);
  const journal = openJournal<GhlEvent>(context, 'ghl');
  const contacts = new Map<string, Contact>();
  const sends: GhlSend[] = [];
  let webhook: { path: string; headers: Record<string, string> } | undefined;
  const deliveries = createDeliveryQueue(context, { name: 'ghl', policy: ghlPolicy() });
  for (const event of journal.replayed) apply(event);

  function apply(event: GhlEvent): void {
    if (event.t === 'contact') contacts.set(event.contact.id, event.contact);
    else if (event.t === 'webhook') webhook = { path: event.path, headers: event.headers };
    else sends.push(event.send);
  }
  function remember(event: GhlEvent): void {
    apply(event);
    journal.record(event);
  }

  function error(res: ServerResponse, statusCode: number, message: string, name?: string) {
    sendJson(res, statusCode, { statusCode, message, ...(name ? { error: name } : {}) });
  }

  /** The bearer token and the operation's `Version`; answers and returns false when missing. */
  function admitted(req: IncomingMessage, res: ServerResponse, version: string): boolean {
    const auth = req.headers.authorization ?? '';
    if (!/^Bearer \S+$/.test(auth)) {
      error(res, 401, 'Invalid token: access token is invalid', 'Unauthorized');
      return false;
    }
    if (req.headers.version !== version) {
      error(res, 400, `Version header must be ${version}`, 'Bad Request');
      return false;
    }
    return true;
  }

  function contactFor(locationId: string, phone: string): Contact {
    const id = ghlId('contact', locationId, phone);
    const known = contacts.get(id);
    if (known) return known;
    const contact = { id, locationId, phone };
    remember({ t: 'contact', contact });
    return contact;
  }

  const conversationOf = (contact: Contact) => ghlId('conversation', contact.id);

  async function sendMessage(req: IncomingMessage, res: ServerResponse) {
    if (!admitted(req, res, '2021-04-15')) return;
    const body = (await readJson(req).catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    const problems: string[] = [];
    if (body?.type !== 'SMS') problems.push('type must be one of the message types (SMS here)');
    if (typeof body?.contactId !== 'string') problems.push('contactId must be a string');
    if (typeof body?.message !== 'string' || body.message === '')
      problems.push('message is required');
    if (!body || problems.length > 0) return error(res, 400, problems.join('; '), 'Bad Request');
    const contact = contacts.get(String(body.contactId));
    if (!contact) return error(res, 400, 'Contact not found', 'Bad Request');
    const current = faults.get();
    if (current.latencyMs > 0) await new Promise((r) => setTimeout(r, current.latencyMs));
    if (Math.random() < current.errorRate) {
      return Math.random() < 0.5
        ? error(res, 429, 'Too many requests')
        : error(res, 500, 'Internal server error');
    }
    const now = new Date(systemClock.now()).toISOString();
    const send: GhlSend = {
      locationId: contact.locationId,
      contactId: contact.id,
      conversationId: conversationOf(contact),
      messageId: ghlId('message', contact.id, String(sends.length), now, String(Math.random())),
      phone: contact.phone,
      body: String(body.message),
      request: body,
      acceptedAt: now,
    };
    remember({ t: 'accepted', send });
    if (webhook) {
      deliveries.enqueue({
        path: webhook.path,
        headers: { 'content-type': 'application/json', ...webhook.headers },
        body: JSON.stringify({
          type: 'OutboundMessage',
          locationId: send.locationId,
          attachments: [],
          body: send.body,
          contactId: send.contactId,
          contentType: 'text/plain',
          conversationId: send.conversationId,
          dateAdded: send.acceptedAt,
          direction: 'outbound',
          messageType: 'SMS',
          messageId: send.messageId,
          source: 'api',
          status: 'sent',
        }),
      });
    }
    if (Math.random() < current.lostResponseRate) {
      req.socket.destroy();
      return;
    }
    sendJson(res, 200, {
      conversationId: send.conversationId,
      messageId: send.messageId,
      msg: 'Message queued successfully.',
      status: 'pending',
    });
  }

  function messageOf(send: GhlSend) {
    return {
      id: send.messageId,
      type: 2,
      messageType: 'TYPE_SMS',
      locationId: send.locationId,
      contactId: send.contactId,
      conversationId: send.conversationId,
      dateAdded: send.acceptedAt,
      body: send.body,
      direction: 'outbound',
      status: 'sent',
      contentType: 'text/plain',
      source: 'api',
    };
  }

  async function setWebhook(req: IncomingMessage, res: ServerResponse) {
    const body = (await readJson(req).catch(() => undefined)) as
      | { url?: unknown; headers?: unknown }
      | undefined;
    let target: URL;
    try {
      target = new URL(String(body?.url));
    } catch {
      return error(res, 400, 'url is required');
    }
    if (target.origin !== new URL(context.apiBaseUrl).origin) {
      return error(res, 400, 'url must be the onceflow API');
    }
    const headers: Record<string, string> = {};
    if (body?.headers && typeof body.headers === 'object') {
      for (const [k, v] of Object.entries(body.headers)) if (typeof v === 'string') headers[k] = v;
    }
    remember({ t: 'webhook', path: `${target.pathname}${target.search}`, headers });
    sendJson(res, 200, { ok: true });
  }

  return {
    name: 'ghl',
    async handle(req, res, url) {
      const p = url.pathname;
      if (req.method === 'GET' && p === '/_sim/ghl/messages') {
        sendJson(res, 200, { messages: sends, deliveries: deliveries.stats() });
        return true;
      }
      if (req.method === 'POST' && p === '/_sim/ghl/webhook') {
        await setWebhook(req, res);
        return true;
      }
      if (req.method === 'GET' && p === '/contacts/search/duplicate') {
        if (!admitted(req, res, '2021-07-28')) return true;
        const locationId = url.searchParams.get('locationId');
        const number = url.searchParams.get('number');
        if (!locationId || !number) {
          error(res, 422, 'locationId and number are required');
          return true;
        }
        const contact = contactFor(locationId, number);
        sendJson(res, 200, { contact: { id: contact.id, locationId, phone: contact.phone } });
        return true;
      }
      if (req.method === 'POST' && p === '/conversations/messages') {
        await sendMessage(req, res);
        return true;
      }
      if (req.method === 'GET' && p === '/conversations/search') {
        if (!admitted(req, res, '2021-04-15')) return true;
        const contactId = url.searchParams.get('contactId');
        const locationId = url.searchParams.get('locationId');
        const contact = contactId ? contacts.get(contactId) : undefined;
        const has =
          contact &&
          contact.locationId === locationId &&
          sends.some((s) => s.contactId === contact.id);
        const conversations = has
          ? [
              {
                id: conversationOf(contact),
                contactId: contact.id,
                locationId,
                phone: contact.phone,
              },
            ]
          : [];
        sendJson(res, 200, { conversations, total: conversations.length });
        return true;
      }
      const listed = CONVERSATION_MESSAGES.exec(p);
      if (req.method === 'GET' && listed) {
        if (!admitted(req, res, '2021-04-15')) return true;
        const mine = sends.filter((s) => s.conversationId === listed[1]).reverse();
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 20) || 20, 100);
        const page = mine.slice(0, limit).map(messageOf);
        sendJson(res, 200, {
          messages: {
            lastMessageId: page.at(-1)?.id ?? '',
            nextPage: mine.length > limit,
            messages: page,
          },
        });
        return true;
      }
      return false;
    },
    reset() {
      contacts.clear();
      sends.length = 0;
      webhook = undefined;
      journal.clear();
      deliveries.reset();
    },
    ...faultMethods(faults),
    close() {
      deliveries.close();
    },
  };
};
