/**
 * The WhatsApp Cloud API simulator (part of the provider simulators on SIM_PORT).
 *
 * - `POST /{version}/{phoneNumberId}/messages`: template (and text) sends, validated the way the
 *   Cloud API does, with its error shape
 *   `{"error": {"message", "type": "OAuthException", "code", "error_data"?, "fbtrace_id"}}`.
 *   An accepted send gets a `wamid.<base64>` id and goes into the ledger.
 * - After accepting, it posts signed status webhooks (`sent`, `delivered`, sometimes `read`, and
 *   `played` after `read` for a voice message) to `${ONCEFLOW_API_BASE_URL}/webhooks/whatsapp` in
 *   the current shape of Meta's status webhook reference
 *   (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/):
 *   per-message pricing (`pricing_model: "PMP"`, `type`, `category`) on `sent` and `delivered`,
 *   no `conversation` object (omitted from v24.0 on), `recipient_type: "group"` with
 *   `recipient_participant_id` for a message sent to a group, and `biz_opaque_callback_data`
 *   echoed. Statuses are jittered so they sometimes arrive out of order, and each webhook is
 *   delivered as Meta delivers it (`delivery.ts` `metaPolicy`: retried until answered 200, for up
 *   to 7 days, kept across a restart, due on the clock seam).
 * - `GET /_sim/whatsapp/messages` → `{"messages": [{wamid, phoneNumberId, to, template,
 *   bizOpaqueCallbackData, acceptedAt}], "pendingStatuses": n, "refused": {"<code>": n}}`.
 * - Faults (`PUT /_sim/faults {"whatsapp": {...}}`, see `faults.ts`): `errorRate`,
 *   `rateLimitPerSecond` (→ 130429), `latencyMs`, `lostResponseRate` (accepted and recorded, answer
 *   dropped), `statusDuplicateRate`, `statusDelayMs`, `undeliverableNumbers` (accepted, then a
 *   `failed` status with 131026, as for a number that is not on WhatsApp).
 * - Template `missing_template` is refused with 132001 (template does not exist): a permanent error.
 * - Every error code answered is one of Meta's (error codes reference,
 *   developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/): 100
 *   invalid parameter, 190 access token, 130429 throughput, 131000 something went wrong, 131026
 *   message undeliverable (HTTP 400 in Meta's table, and in a `failed` status), 132001 template
 *   missing. `test/unit/whatsapp-sim-shapes.test.ts` holds the list and checks the simulator
 *   answers nothing else.
 *
 * The provider outlives onceflow: the ledger and the undelivered status webhooks are appended to
 * `<ONCEFLOW_DATA_DIR>/sim/whatsapp.jsonl`, so a runtime killed and started again still holds every
 * send it ever accepted (duplicates stay visible) and still delivers the statuses it owed.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock } from '../../../functions/kernel/clock.js';
import { versionStatus } from '../../../functions/kernel/provider-versions.js';
import { signHubBody } from '../../../functions/kernel/webhook-signature.js';
import { readJson, sendJson } from '../http-util.js';
import { createDeliveryQueue, metaPolicy } from './delivery.js';
import { FaultStore, whatsappFaultsSchema } from './faults.js';
import type { SimulatorContext, SimulatorFactory } from './index.js';
import { openJournal } from './journal.js';

export interface LedgerEntry {
  readonly wamid: string;
  readonly phoneNumberId: string;
  /** Digits as sent (`972501234567`). */
  readonly to: string;
  readonly template: unknown;
  readonly bizOpaqueCallbackData: string | null;
  readonly acceptedAt: string;
  /** `template`, `text` or `audio` (a voice message: its last status is `played`). */
  readonly type?: string;
  /** `group` when `to` is a group id. */
  readonly recipientType?: string;
}

type StatusName = 'sent' | 'delivered' | 'read' | 'played' | 'failed';

/** A member of every simulated group, named in `recipient_participant_id`. */
export const SIM_GROUP_PARTICIPANT = '15550001234';

interface OwedStatus {
  readonly id: string;
  readonly wamid: string;
  readonly status: StatusName;
  dueAt: number;
  attempts: number;
}

const SEND_PATH = /^\/(v\d+\.\d+)\/([A-Za-z0-9_.-]{1,64})\/messages$/;

function fbtraceId(): string {
  return randomBytes(9).toString('base64url');
}

/** Refusals answered since the last reset, by error code (e.g. how many 130429s). */
const refusals = new Map<number, number>();

export function graphError(
  res: ServerResponse,
  httpStatus: number,
  code: number,
  message: string,
  details?: string,
  type = 'OAuthException',
): void {
  refusals.set(code, (refusals.get(code) ?? 0) + 1);
  sendJson(res, httpStatus, {
    error: {
      message,
      type,
      code,
      ...(details ? { error_data: { messaging_product: 'whatsapp', details } } : {}),
      fbtrace_id: fbtraceId(),
    },
  });
}

export function newWamid(to: string): string {
  const inner = `HBgM${to}FQIAERgS${randomBytes(10).toString('hex').toUpperCase()}AA==`;
  return `wamid.${Buffer.from(inner).toString('base64')}`;
}

/** Validates a send body like the Cloud API; returns the error to answer, or undefined. */
export function validateSend(
  body: unknown,
): { code: number; message: string; details: string } | undefined {
  const invalid = (details: string) => ({
    code: 100,
    message: '(#100) Invalid parameter',
    details,
  });
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return invalid('The request body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  if (b.messaging_product !== 'whatsapp') {
    return {
      code: 100,
      message: '(#100) The parameter messaging_product is required.',
      details: 'messaging_product must be "whatsapp"',
    };
  }
  if (
    b.recipient_type !== undefined &&
    b.recipient_type !== 'individual' &&
    b.recipient_type !== 'group'
  ) {
    return invalid("Parameter 'recipient_type' must be 'individual' or 'group'");
  }
  const toGroup = b.recipient_type === 'group';
  if (typeof b.to !== 'string' || !(toGroup ? /^\d{6,32}$/ : /^\+?\d{8,15}$/).test(b.to)) {
    return invalid(
      toGroup
        ? "Parameter 'to' must be a group id"
        : "Parameter 'to' must be a phone number in international format (digits)",
    );
  }
  if (
    b.biz_opaque_callback_data !== undefined &&
    (typeof b.biz_opaque_callback_data !== 'string' || b.biz_opaque_callback_data.length > 512)
  ) {
    return invalid(
      "Parameter 'biz_opaque_callback_data' must be a string of at most 512 characters",
    );
  }
  if (b.type === 'text') {
    const text = b.text as { body?: unknown } | undefined;
    if (typeof text?.body !== 'string' || text.body === '')
      return invalid("Parameter 'text.body' is required");
    return undefined;
  }
  if (b.type === 'audio') {
    const audio = b.audio as { id?: unknown; link?: unknown } | undefined;
    if (typeof audio?.id !== 'string' && typeof audio?.link !== 'string')
      return invalid("Parameter 'audio.id' or 'audio.link' is required");
    return undefined;
  }
  if (b.type !== 'template')
    return invalid("Parameter 'type' must be 'template', 'text' or 'audio'");
  const template = b.template as Record<string, unknown> | undefined;
  if (!template || typeof template.name !== 'string' || template.name === '') {
    return invalid("Parameter 'template.name' is required");
  }
  const language = template.language as { code?: unknown } | undefined;
  if (typeof language?.code !== 'string' || language.code === '') {
    return invalid("Parameter 'template.language.code' is required");
  }
  if (template.components !== undefined && !Array.isArray(template.components)) {
    return invalid("Parameter 'template.components' must be an array");
  }
  return undefined;
}

/** One line of the journal. */
interface WhatsAppEvent {
  readonly t: 'accepted' | 'owed' | 'delivered';
  readonly entry?: LedgerEntry;
  readonly status?: OwedStatus;
  readonly id?: string;
}

export const whatsappSimulator: SimulatorFactory = (context: SimulatorContext) => {
  const faults = new FaultStore(whatsappFaultsSchema);
  const journal = openJournal<WhatsAppEvent>(context, 'whatsapp');
  const secret = () => context.env('WHATSAPP_APP_SECRET') ?? 'local-app-secret';
  const ledger: LedgerEntry[] = [];
  const byWamid = new Map<string, LedgerEntry>();
  const owed = new Map<string, OwedStatus>();
  /** Per phone number id: a token bucket for `rateLimitPerSecond`. */
  const buckets = new Map<string, { tokens: number; at: number }>();
  let closed = false;

  const record = journal.record;

  // Reload what an earlier run of the provider accepted and still owed.
  for (const event of journal.replayed) {
    if (event.t === 'accepted' && event.entry) {
      ledger.push(event.entry);
      byWamid.set(event.entry.wamid, event.entry);
    } else if (event.t === 'owed' && event.status) {
      owed.set(event.status.id, { ...event.status, dueAt: systemClock.now() + 200, attempts: 0 });
    } else if (event.t === 'delivered' && event.id) {
      owed.delete(event.id);
    }
  }

  function takeRateToken(phoneNumberId: string, perSecond: number): boolean {
    if (perSecond <= 0) return true;
    const now = Date.now();
    const bucket = buckets.get(phoneNumberId) ?? { tokens: perSecond, at: now };
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
    bucket.at = now;
    buckets.set(phoneNumberId, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  function owe(wamid: string, status: StatusName, delayMs: number): void {
    const item: OwedStatus = {
      id: `${wamid}|${status}|${randomBytes(4).toString('hex')}`,
      wamid,
      status,
      dueAt: systemClock.now() + delayMs,
      attempts: 0,
    };
    owed.set(item.id, item);
    record({ t: 'owed', status: item });
  }

  function scheduleStatuses(entry: LedgerEntry): void {
    const { statusDelayMs, statusDuplicateRate, undeliverableNumbers } = faults.get();
    const jitter = () => statusDelayMs * (0.5 + Math.random());
    if (undeliverableNumbers.some((n) => n.replace(/^\+/, '') === entry.to)) {
      // Not a WhatsApp user: accepted, then reported failed (never sent or delivered).
      const at = jitter();
      owe(entry.wamid, 'failed', at);
      if (Math.random() < statusDuplicateRate) owe(entry.wamid, 'failed', at + jitter());
      return;
    }
    // Each status is jittered on its own, so `delivered` sometimes overtakes `sent`.
    const sentAt = jitter();
    const deliveredAt = sentAt + jitter() * 0.6;
    const statuses: Array<[StatusName, number]> = [
      ['sent', sentAt],
      ['delivered', deliveredAt],
    ];
    if (entry.type === 'audio') {
      // A voice message is read, then played (Meta's `played` status).
      const readAt = deliveredAt + jitter();
      statuses.push(['read', readAt], ['played', readAt + jitter()]);
    } else if (Math.random() < 0.3) statuses.push(['read', deliveredAt + jitter()]);
    for (const [status, delay] of statuses) {
      owe(entry.wamid, status, delay);
      if (Math.random() < statusDuplicateRate) owe(entry.wamid, status, delay + jitter());
    }
  }

  /** One status as Meta's status webhook reference shapes it (see the header). */
  function statusObject(s: OwedStatus): Record<string, unknown> {
    const entry = byWamid.get(s.wamid);
    const group = entry?.recipientType === 'group';
    const category =
      entry?.type === 'template' || entry?.type === undefined ? 'marketing' : 'service';
    return {
      id: s.wamid,
      status: s.status,
      timestamp: String(Math.floor(systemClock.now() / 1000)),
      recipient_id: entry?.to ?? '',
      ...(group
        ? { recipient_type: 'group', recipient_participant_id: SIM_GROUP_PARTICIPANT }
        : {}),
      ...(entry?.bizOpaqueCallbackData
        ? { biz_opaque_callback_data: entry.bizOpaqueCallbackData }
        : {}),
      ...(s.status === 'sent' || s.status === 'delivered'
        ? {
            pricing: {
              billable: category !== 'service',
              pricing_model: 'PMP',
              type: category === 'service' ? 'free_customer_service' : 'regular',
              category,
            },
          }
        : {}),
      ...(s.status === 'failed'
        ? {
            errors: [
              {
                code: 131026,
                title: 'Message undeliverable',
                message: 'Message undeliverable',
                error_data: {
                  details: 'Message undeliverable: the recipient is not a WhatsApp user.',
                },
              },
            ],
          }
        : {}),
    };
  }

  function payload(phoneNumberId: string, batch: readonly OwedStatus[]): string {
    return JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: `waba-${phoneNumberId}`,
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550000000', phone_number_id: phoneNumberId },
                statuses: batch.map(statusObject),
              },
            },
          ],
        },
      ],
    });
  }

  const deliveries = createDeliveryQueue(context, { name: 'whatsapp', policy: metaPolicy() });

  /** Hands a batch of statuses to the delivery queue, which delivers it as Meta would. */
  function post(phoneNumberId: string, batch: OwedStatus[]): void {
    const body = payload(phoneNumberId, batch);
    deliveries.enqueue({
      path: '/webhooks/whatsapp',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': signHubBody(body, secret()),
      },
      body,
    });
    for (const item of batch) {
      owed.delete(item.id);
      record({ t: 'delivered', id: item.id });
    }
  }

  const MAX_PER_WEBHOOK = 20;
  /**
   * While this many webhooks are still owed, due statuses wait and are batched (up to 20 a
   * webhook) once the backlog clears, as Meta batches under load; without it every 25 ms tick
   * would post its own small webhook.
   */
  const MAX_OWED_WEBHOOKS = 8;
  const timer = setInterval(() => {
    if (closed || deliveries.stats().pending >= MAX_OWED_WEBHOOKS) return;
    const now = systemClock.now();
    const due: OwedStatus[] = [];
    for (const item of owed.values()) if (item.dueAt <= now) due.push(item);
    if (due.length === 0) return;
    due.sort((a, b) => a.dueAt - b.dueAt);
    const byNumber = new Map<string, OwedStatus[]>();
    for (const item of due) {
      const number = byWamid.get(item.wamid)?.phoneNumberId ?? 'unknown';
      const list = byNumber.get(number) ?? [];
      list.push(item);
      byNumber.set(number, list);
    }
    for (const [number, items] of byNumber) {
      for (let i = 0; i < items.length; i += MAX_PER_WEBHOOK) {
        post(number, items.slice(i, i + MAX_PER_WEBHOOK));
      }
    }
  }, 25);
  timer.unref();

  async function handleSend(req: IncomingMessage, res: ServerResponse, phoneNumberId: string) {
    const current = faults.get();
    const auth = req.headers.authorization ?? '';
    const body = await readJson(req).catch(() => null);
    if (!/^Bearer\s+\S+/.test(auth)) {
      graphError(res, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
      return;
    }
    const invalid = validateSend(body);
    if (invalid) {
      graphError(res, 400, invalid.code, invalid.message, invalid.details);
      return;
    }
    const send = body as {
      to: string;
      type?: string;
      recipient_type?: string;
      template?: { name: string };
      biz_opaque_callback_data?: string;
    };
    if (current.latencyMs > 0) await new Promise((r) => setTimeout(r, current.latencyMs));
    if (!takeRateToken(phoneNumberId, current.rateLimitPerSecond)) {
      graphError(
        res,
        400,
        130429,
        '(#130429) Rate limit hit',
        'Cloud API message throughput has been reached.',
      );
      return;
    }
    if (send.template?.name === 'missing_template') {
      graphError(
        res,
        404,
        132001,
        '(#132001) Template name does not exist in the translation',
        `template name (${send.template.name}) does not exist in the language`,
      );
      return;
    }
    if (Math.random() < current.errorRate) {
      if (Math.random() < 0.6) {
        graphError(res, 500, 131000, '(#131000) Something went wrong', 'Something went wrong.');
      } else {
        graphError(
          res,
          400,
          131026,
          '(#131026) Message undeliverable',
          'Message undeliverable: the recipient cannot receive this message.',
        );
      }
      return;
    }
    const to = send.to.replace(/^\+/, '');
    const entry: LedgerEntry = {
      wamid: newWamid(to),
      phoneNumberId,
      to,
      template: send.template ?? null,
      bizOpaqueCallbackData: send.biz_opaque_callback_data ?? null,
      acceptedAt: new Date(systemClock.now()).toISOString(),
      ...(send.type ? { type: send.type } : {}),
      ...(send.recipient_type === 'group' ? { recipientType: 'group' } : {}),
    };
    ledger.push(entry);
    byWamid.set(entry.wamid, entry);
    record({ t: 'accepted', entry });
    scheduleStatuses(entry);
    if (Math.random() < current.lostResponseRate) {
      // Accepted and recorded; the answer never arrives.
      req.socket.destroy();
      return;
    }
    sendJson(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: send.to, wa_id: to }],
      messages: [{ id: entry.wamid, message_status: 'accepted' }],
    });
  }

  return {
    name: 'whatsapp',
    async handle(req, res, url) {
      if (req.method === 'GET' && url.pathname === '/_sim/whatsapp/messages') {
        sendJson(res, 200, {
          messages: ledger,
          pendingStatuses: owed.size + deliveries.stats().pending,
          deliveries: deliveries.stats(),
          refused: Object.fromEntries(refusals),
        });
        return true;
      }
      const match = SEND_PATH.exec(url.pathname);
      if (!match) return false;
      // A version Graph never had: Graph answers that the path is unknown (400, code 2500; seen in
      // client issue reports, e.g. arsduo/koala#611, not in Meta's reference). One past its end is
      // served as the oldest version still available (Platform Versioning), as here.
      if (versionStatus('whatsappGraph', match[1] ?? '', systemClock.now()).state === 'unknown') {
        graphError(
          res,
          400,
          2500,
          `Unknown path components: ${url.pathname.replace(/^\/[^/]+/, '')}`,
        );
        return true;
      }
      if (req.method !== 'POST') {
        graphError(
          res,
          400,
          100,
          'Unsupported request - method type: get',
          undefined,
          'GraphMethodException',
        );
        return true;
      }
      await handleSend(req, res, match[2] ?? '');
      return true;
    },
    reset() {
      ledger.length = 0;
      byWamid.clear();
      owed.clear();
      buckets.clear();
      refusals.clear();
      journal.clear();
      deliveries.reset();
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
    close() {
      closed = true;
      clearInterval(timer);
      deliveries.close();
    },
  };
};
