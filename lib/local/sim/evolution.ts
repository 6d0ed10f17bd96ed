/**
 * The Evolution API (v2) simulator: a tenant's WhatsApp Web gateway, built from Evolution API's own
 * source (EvolutionAPI/evolution-api @ 3454bec):
 *
 * - `POST /webhook/set/{instance}` — `{"webhook": {"enabled", "url", "headers"?, "byEvents"?,
 *   "events"?}}` (`src/api/integrations/event/event.dto.ts`, `webhook.router.ts`) → 201 with the
 *   webhook. The headers are how the tenant's webhook token reaches `/webhooks/whatsapp-web`;
 *   `byEvents` posts each event to `<url>/<event-name>` (`/messages-upsert`); only URLs of the
 *   onceflow API this runtime serves are delivered to.
 * - `POST /message/sendText/{instance}` — `apikey` header (`src/api/guards/auth.guard.ts`), body
 *   `{"number", "text"}` (`textMessageSchema`, `src/validate/message.schema.ts`) → 201 with the sent
 *   `WAMessage` (`{"key": {"remoteJid", "fromMe": true, "id"}, "message": {"conversation"},
 *   "messageType", "messageTimestamp", "status": "PENDING", ...}`, as `sendMessageWithTyping`
 *   returns it); then the instance's own `messages.upsert` (`fromMe: true`, the same `key.id`) to
 *   its webhook, as Baileys' `messages.upsert` of a sent message makes Evolution do. The id is the
 *   simulator's (`3EB0` + 18 hex digits, Baileys' `generateMessageIDV2` form): Evolution takes no
 *   client id.
 * - `POST /chat/findMessages/{instance}` — `{"where": {"key": {"remoteJid", "fromMe"}}, "offset",
 *   "page"}` → `{"messages": {"total", "pages", "currentPage", "records"}}`, newest first
 *   (`fetchMessages`, `src/api/services/channel.service.ts`): the instance's record a lost answer
 *   is reconciled from.
 * - Errors in Evolution's exception shape `{"status", "error", "response": {"message"}}`
 *   (`src/exceptions/*.exception.ts`): 401 without `apikey`, 400 for a body the schema refuses.
 * - `GET /_sim/evolution/messages` → `{"messages": [{instance, number, text, id, remoteJid,
 *   body, acceptedAt}], "deliveries"}`; `POST /_sim/reset` clears.
 * - Faults under `evolution` (`faults.ts`): `errorRate` (500 before anything is sent),
 *   `lostResponseRate` (sent and echoed, the answer lost), `latencyMs`.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock } from '../../../functions/kernel/clock.js';
import { readJson, sendJson } from '../http-util.js';
import { createDeliveryQueue, evolutionPolicy } from './delivery.js';
import { evolutionFaultsSchema, FaultStore, faultMethods } from './faults.js';
import type { SimulatorContext, SimulatorFactory } from './index.js';
import { openJournal } from './journal.js';

export interface EvolutionSend {
  readonly instance: string;
  readonly id: string;
  readonly remoteJid: string;
  readonly text: string;
  /** The body as received (tests check it against Evolution's `textMessageSchema`). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly messageTimestamp: number;
  readonly acceptedAt: string;
}

interface EvolutionWebhook {
  readonly instance: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly byEvents: boolean;
}

type EvolutionEvent =
  | { readonly t: 'webhook'; readonly webhook: EvolutionWebhook }
  | { readonly t: 'accepted'; readonly send: EvolutionSend };

const ROUTE = /^\/(message\/sendText|chat\/findMessages|webhook\/set)\/([^/]+)$/;

function exception(res: ServerResponse, status: number, error: string, message: unknown) {
  sendJson(res, status, { status, error, response: { message } });
}

/** Baileys' id of a message it sends (`generateMessageIDV2`: `3EB0` + 18 hex digits). */
function baileysId(): string {
  return `3EB0${randomBytes(9).toString('hex').toUpperCase()}`;
}

/** Evolution's `createJid` of a plain number: `<digits>@s.whatsapp.net`. */
function jidOf(number: string): string {
  return number.includes('@') ? number : `${number.replace(/\D/g, '')}@s.whatsapp.net`;
}

export const evolutionSimulator: SimulatorFactory = (context: SimulatorContext) => {
  const faults = new FaultStore(evolutionFaultsSchema);
  const journal = openJournal<EvolutionEvent>(context, 'evolution');
  const webhooks = new Map<string, EvolutionWebhook>();
  const sends: EvolutionSend[] = [];
  const deliveries = createDeliveryQueue(context, {
    name: 'evolution',
    policy: evolutionPolicy(),
  });
  for (const event of journal.replayed) apply(event);

  function apply(event: EvolutionEvent): void {
    if (event.t === 'webhook') webhooks.set(event.webhook.instance, event.webhook);
    else sends.push(event.send);
  }
  function remember(event: EvolutionEvent): void {
    apply(event);
    journal.record(event);
  }

  function authorized(req: IncomingMessage, res: ServerResponse): boolean {
    const key = req.headers.apikey;
    if (typeof key === 'string' && key.trim() !== '') return true;
    exception(res, 401, 'Unauthorized', 'Unauthorized');
    return false;
  }

  async function setWebhook(req: IncomingMessage, res: ServerResponse, instance: string) {
    if (!authorized(req, res)) return;
    const body = (await readJson(req).catch(() => undefined)) as
      | { webhook?: { enabled?: unknown; url?: unknown; headers?: unknown; byEvents?: unknown } }
      | undefined;
    const hook = body?.webhook;
    if (typeof hook?.url !== 'string')
      return exception(res, 400, 'Bad Request', ['url is required']);
    let target: URL;
    try {
      target = new URL(hook.url);
    } catch {
      return exception(res, 400, 'Bad Request', ['url is invalid']);
    }
    // Only the onceflow API this runtime serves is ever called (never an arbitrary URL).
    if (target.origin !== new URL(context.apiBaseUrl).origin) {
      return exception(res, 400, 'Bad Request', ['url must be the onceflow API']);
    }
    const headers: Record<string, string> = {};
    if (hook.headers && typeof hook.headers === 'object') {
      for (const [k, v] of Object.entries(hook.headers)) if (typeof v === 'string') headers[k] = v;
    }
    const webhook: EvolutionWebhook = {
      instance,
      path: `${target.pathname}${target.search}`,
      headers,
      byEvents: hook.byEvents === true,
    };
    remember({ t: 'webhook', webhook });
    sendJson(res, 201, {
      webhook: { instanceName: instance, webhook: { ...hook, enabled: true } },
    });
  }

  /** The `fromMe` upsert of a sent message, as Evolution posts it (`/webhooks/whatsapp-web`). */
  function echo(send: EvolutionSend): void {
    const hook = webhooks.get(send.instance);
    if (!hook) return;
    const [pathname, search = ''] = hook.path.split('?');
    const path = hook.byEvents
      ? `${pathname}/messages-upsert${search ? `?${search}` : ''}`
      : hook.path;
    deliveries.enqueue({
      path,
      headers: { 'content-type': 'application/json', ...hook.headers },
      body: JSON.stringify({
        event: 'messages.upsert',
        instance: send.instance,
        data: {
          key: { remoteJid: send.remoteJid, fromMe: true, id: send.id },
          pushName: '',
          status: 'SERVER_ACK',
          message: { conversation: send.text },
          messageType: 'conversation',
          messageTimestamp: send.messageTimestamp,
          source: 'unknown',
        },
        date_time: send.acceptedAt,
        server_url: context.simBaseUrl,
      }),
    });
  }

  async function sendText(req: IncomingMessage, res: ServerResponse, instance: string) {
    if (!authorized(req, res)) return;
    const body = (await readJson(req).catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    const problems: string[] = [];
    if (typeof body?.number !== 'string') problems.push('"number" is required and a string');
    if (typeof body?.text !== 'string' || body.text.trim() === '') {
      problems.push('"text" is required and cannot be empty');
    }
    if (!body || problems.length > 0) return exception(res, 400, 'Bad Request', problems);
    const current = faults.get();
    if (current.latencyMs > 0) await new Promise((r) => setTimeout(r, current.latencyMs));
    if (Math.random() < current.errorRate) {
      return exception(res, 500, 'Internal Server Error', 'Connection Closed');
    }
    const now = systemClock.now();
    const send: EvolutionSend = {
      instance,
      id: baileysId(),
      remoteJid: jidOf(String(body.number)),
      text: String(body.text),
      body,
      messageTimestamp: Math.floor(now / 1000),
      acceptedAt: new Date(now).toISOString(),
    };
    remember({ t: 'accepted', send });
    echo(send);
    if (Math.random() < current.lostResponseRate) {
      req.socket.destroy();
      return;
    }
    sendJson(res, 201, {
      key: { remoteJid: send.remoteJid, fromMe: true, id: send.id },
      pushName: '',
      status: 'PENDING',
      message: { conversation: send.text },
      messageType: 'conversation',
      messageTimestamp: send.messageTimestamp,
      instanceId: instance,
      source: 'unknown',
    });
  }

  async function findMessages(req: IncomingMessage, res: ServerResponse, instance: string) {
    if (!authorized(req, res)) return;
    const body = (await readJson(req).catch(() => undefined)) as
      | {
          where?: { key?: { remoteJid?: unknown; fromMe?: unknown } };
          offset?: unknown;
          page?: unknown;
        }
      | undefined;
    const key = body?.where?.key ?? {};
    const offset = typeof body?.offset === 'number' && body.offset > 0 ? body.offset : 50;
    const page = typeof body?.page === 'number' && body.page > 0 ? body.page : 1;
    // Only sends are recorded here, so every record is `fromMe`; `fromMe: false` finds none.
    const all =
      key.fromMe === false
        ? []
        : sends
            .filter((s) => s.instance === instance)
            .filter((s) => key.remoteJid === undefined || s.remoteJid === key.remoteJid)
            .reverse();
    const records = all.slice((page - 1) * offset, page * offset).map((s) => ({
      id: s.id,
      key: { remoteJid: s.remoteJid, fromMe: true, id: s.id },
      pushName: '',
      messageType: 'conversation',
      message: { conversation: s.text },
      messageTimestamp: s.messageTimestamp,
      instanceId: instance,
      source: 'unknown',
      MessageUpdate: [],
    }));
    sendJson(res, 200, {
      messages: {
        total: all.length,
        pages: Math.ceil(all.length / offset),
        currentPage: page,
        records,
      },
    });
  }

  return {
    name: 'evolution',
    async handle(req, res, url) {
      if (req.method === 'GET' && url.pathname === '/_sim/evolution/messages') {
        sendJson(res, 200, { messages: sends, deliveries: deliveries.stats() });
        return true;
      }
      const route = ROUTE.exec(url.pathname);
      if (!route || req.method !== 'POST') return false;
      const instance = decodeURIComponent(route[2] ?? '');
      if (route[1] === 'webhook/set') await setWebhook(req, res, instance);
      else if (route[1] === 'message/sendText') await sendText(req, res, instance);
      else await findMessages(req, res, instance);
      return true;
    },
    reset() {
      webhooks.clear();
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
