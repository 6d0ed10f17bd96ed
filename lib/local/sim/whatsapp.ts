/**
 * The WhatsApp Cloud API simulator (part of the provider simulators on SIM_PORT).
 *
 * - `POST /{version}/{phoneNumberId}/messages`: template (and text) sends, validated the way the
 *   Cloud API does, with its error shape
 *   `{"error": {"message", "type": "OAuthException", "code", "error_data"?, "fbtrace_id"}}`.
 *   An accepted send gets a `wamid.<base64>` id and goes into the ledger.
 * - After accepting, it posts signed status webhooks (`sent`, `delivered`, sometimes `read`) to
 *   `${ONCEFLOW_API_BASE_URL}/webhooks/whatsapp` in the real payload shape, echoing
 *   `biz_opaque_callback_data`; statuses are jittered so they sometimes arrive out of order, and
 *   a webhook that is not answered 200 is retried until it is, as Meta does.
 * - `GET /_sim/whatsapp/messages` → `{"messages": [{wamid, phoneNumberId, to, template,
 *   bizOpaqueCallbackData, acceptedAt}], "pendingStatuses": n, "refused": {"<code>": n}}`.
 * - Faults (`PUT /_sim/faults {"whatsapp": {...}}`, see `faults.ts`): `errorRate`,
 *   `rateLimitPerSecond` (→ 130429), `latencyMs`, `lostResponseRate` (accepted and recorded, answer
 *   dropped), `statusDuplicateRate`, `statusDelayMs`, `undeliverableNumbers` (accepted, then a
 *   `failed` status with 131026, as for a number that is not on WhatsApp).
 * - Template `missing_template` is refused with 132001 (template does not exist): a permanent error.
 *
 * The provider outlives onceflow: the ledger and the undelivered status webhooks are appended to
 * `<ONCEFLOW_DATA_DIR>/sim/whatsapp.jsonl`, so a runtime killed and started again still holds every
 * send it ever accepted (duplicates stay visible) and still delivers the statuses it owed.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { signHubBody } from '../../../functions/kernel/webhook-signature.js';
import { readJson, sendJson } from '../http-util.js';
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
}

type StatusName = 'sent' | 'delivered' | 'read' | 'failed';

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
  if (typeof b.to !== 'string' || !/^\+?\d{8,15}$/.test(b.to)) {
    return invalid("Parameter 'to' must be a phone number in international format (digits)");
  }
  if (b.recipient_type !== undefined && b.recipient_type !== 'individual') {
    return invalid("Parameter 'recipient_type' must be 'individual'");
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
  if (b.type !== 'template') return invalid("Parameter 'type' must be 'template' or 'text'");
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
  let inFlight = 0;
  let closed = false;

  const record = journal.record;

  // Reload what an earlier run of the provider accepted and still owed.
  for (const event of journal.replayed) {
    if (event.t === 'accepted' && event.entry) {
      ledger.push(event.entry);
      byWamid.set(event.entry.wamid, event.entry);
    } else if (event.t === 'owed' && event.status) {
      owed.set(event.status.id, { ...event.status, dueAt: Date.now() + 200, attempts: 0 });
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
      dueAt: Date.now() + delayMs,
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
    if (Math.random() < 0.3) statuses.push(['read', deliveredAt + jitter()]);
    for (const [status, delay] of statuses) {
      owe(entry.wamid, status, delay);
      if (Math.random() < statusDuplicateRate) owe(entry.wamid, status, delay + jitter());
    }
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
                statuses: batch.map((s) => {
                  const entry = byWamid.get(s.wamid);
                  return {
                    id: s.wamid,
                    status: s.status,
                    timestamp: String(Math.floor(Date.now() / 1000)),
                    recipient_id: entry?.to ?? '',
                    ...(entry?.bizOpaqueCallbackData
                      ? { biz_opaque_callback_data: entry.bizOpaqueCallbackData }
                      : {}),
                    ...(s.status === 'failed'
                      ? {
                          errors: [
                            {
                              code: 131026,
                              title: 'Message undeliverable',
                              message: 'Message undeliverable',
                              error_data: {
                                details:
                                  'Message undeliverable: the recipient is not a WhatsApp user.',
                              },
                            },
                          ],
                        }
                      : {}),
                    ...(s.status === 'read' || s.status === 'failed'
                      ? {}
                      : {
                          conversation: {
                            id: `conv-${s.wamid.slice(-12)}`,
                            origin: { type: 'marketing' },
                          },
                          pricing: { billable: true, pricing_model: 'CBP', category: 'marketing' },
                        }),
                  };
                }),
              },
            },
          ],
        },
      ],
    });
  }

  async function post(phoneNumberId: string, batch: OwedStatus[]): Promise<void> {
    const apiBaseUrl = context.apiBaseUrl.replace(/\/$/, '');
    const body = payload(phoneNumberId, batch);
    let ok = false;
    try {
      const response = await fetch(`${apiBaseUrl}/webhooks/whatsapp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signHubBody(body, secret()),
        },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      await response.arrayBuffer();
      ok = response.status === 200;
    } catch {
      ok = false;
    }
    for (const item of batch) {
      if (ok) {
        owed.delete(item.id);
        record({ t: 'delivered', id: item.id });
      } else {
        // Meta retries with backoff; so do we (capped, so a restarted API hears soon).
        item.attempts += 1;
        item.dueAt = Date.now() + Math.min(5000, 100 * 2 ** item.attempts) * (0.5 + Math.random());
      }
    }
  }

  const MAX_PER_WEBHOOK = 20;
  const MAX_CONCURRENT_WEBHOOKS = 8;
  const timer = setInterval(() => {
    if (closed || inFlight >= MAX_CONCURRENT_WEBHOOKS) return;
    const now = Date.now();
    const due: OwedStatus[] = [];
    for (const item of owed.values()) {
      if (item.dueAt <= now && item.attempts >= 0) due.push(item);
    }
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
      for (
        let i = 0;
        i < items.length && inFlight < MAX_CONCURRENT_WEBHOOKS;
        i += MAX_PER_WEBHOOK
      ) {
        const batch = items.slice(i, i + MAX_PER_WEBHOOK);
        // Hold them off while this delivery is in flight.
        for (const item of batch) item.dueAt = Number.POSITIVE_INFINITY;
        inFlight += 1;
        void post(number, batch).finally(() => {
          inFlight -= 1;
        });
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
      acceptedAt: new Date().toISOString(),
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
          pendingStatuses: owed.size,
          refused: Object.fromEntries(refusals),
        });
        return true;
      }
      const match = SEND_PATH.exec(url.pathname);
      if (!match) return false;
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
    },
  };
};
