/**
 * The WhatsApp Cloud API, as the sender needs it: one template message, and a classification of
 * every way the call can end. The distinction that matters is between a *rejection* (the provider
 * answered with an error: nothing was sent, retrying is safe) and an *unknown outcome* (the request
 * may have reached the provider and been accepted, but the answer was lost: retrying blind could
 * send twice).
 *
 * Endpoint: `WHATSAPP_API_BASE_URL` (the local runtime points it at the simulator;
 * https://graph.facebook.com on AWS) and `WHATSAPP_API_VERSION`, a setting checked against the
 * Graph API's version calendar (`kernel/provider-versions.ts`; the manifest gives it).
 */
import { isLocal } from '../kernel/config.js';
import {
  networkErrorCode as errorCode,
  NOT_SENT_CODES as NOT_SENT,
} from '../kernel/outbound-errors.js';
import { checkVersion, configuredVersions, isRefused } from '../kernel/provider-versions.js';
import type { CampaignTemplate } from './model.js';

export type RejectionClass =
  /** 130429 and friends: too fast for the number's throughput; retry soon, keep the place. */
  | 'throughput'
  /** 5xx and generic provider errors: retry with backoff. */
  | 'transient'
  /** 131056: too many messages to this one user; retry this contact later. */
  | 'pair_rate'
  /** Invalid number, template errors, parameters: sending again cannot work. */
  | 'permanent'
  /**
   * The Graph path does not exist (code 2500, "Unknown path components": what Graph answers for a
   * version it never had): a configuration error, not the contact's; held, never spun.
   */
  | 'version_rejected';

export type SendResult =
  | { readonly kind: 'accepted'; readonly wamid: string }
  | {
      readonly kind: 'rejected';
      readonly class: RejectionClass;
      readonly httpStatus: number;
      readonly code: number | undefined;
      readonly message: string;
    }
  | { readonly kind: 'unknown'; readonly reason: string };

export interface TemplateSend {
  readonly phoneNumberId: string;
  /** E.164. */
  readonly to: string;
  readonly template: CampaignTemplate;
  readonly callbackData: string;
}

/** A free-form text message (replies within the 24-hour service window). */
export interface TextSend {
  readonly phoneNumberId: string;
  /** E.164. */
  readonly to: string;
  readonly body: string;
  readonly callbackData: string;
}

export interface WhatsAppSender {
  sendTemplate(send: TemplateSend): Promise<SendResult>;
  /**
   * `type: "text"` with `biz_opaque_callback_data`, like a template: the status webhooks echo it
   * (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages, "text object" and
   * "biz_opaque_callback_data"). Optional so existing test doubles of the campaign sender still fit.
   */
  sendText?(send: TextSend): Promise<SendResult>;
}

const THROUGHPUT_CODES = new Set([4, 80007, 130429, 131048]);
const TRANSIENT_CODES = new Set([1, 2, 190, 131000, 131016, 133004]);
const PAIR_RATE_CODES = new Set([131056]);

export function classifyError(httpStatus: number, code: number | undefined): RejectionClass {
  if (code === 2500) return 'version_rejected';
  if (code !== undefined && PAIR_RATE_CODES.has(code)) return 'pair_rate';
  if (code !== undefined && THROUGHPUT_CODES.has(code)) return 'throughput';
  if (httpStatus === 429) return 'throughput';
  if (httpStatus >= 500 || httpStatus === 401) return 'transient';
  if (code !== undefined && TRANSIENT_CODES.has(code)) return 'transient';
  return 'permanent';
}

export function whatsappApiBaseUrl(): string {
  const configured = process.env.WHATSAPP_API_BASE_URL;
  if (configured) return configured.replace(/\/$/, '');
  if (isLocal() && process.env.SIM_BASE_URL) return process.env.SIM_BASE_URL.replace(/\/$/, '');
  return 'https://graph.facebook.com';
}

export function whatsappApiVersion(): string {
  return configuredVersions().whatsappGraph;
}

export interface WhatsAppClientOptions {
  readonly baseUrl: string;
  readonly version: string;
  readonly accessToken: () => Promise<string>;
  /** @default 10000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /**
   * The clock the version calendar is read on: a version past its end (or unknown) is refused
   * before anything is sent (Graph would silently serve an older version instead).
   * @default Date.now
   */
  readonly now?: () => number;
}

export function createWhatsAppClient(options: WhatsAppClientOptions): WhatsAppSender {
  const doFetch = options.fetch ?? fetch;
  async function post(phoneNumberId: string, payload: object): Promise<SendResult> {
    const version = checkVersion('whatsappGraph', options.version, (options.now ?? Date.now)());
    if (isRefused(version)) {
      return {
        kind: 'rejected',
        class: 'version_rejected',
        httpStatus: 0,
        code: undefined,
        message: version.message,
      };
    }
    // A phone number id is digits (the tenant schema refuses anything else): never a path of its own.
    if (!/^\d{1,64}$/.test(phoneNumberId)) {
      return {
        kind: 'rejected',
        class: 'permanent',
        httpStatus: 0,
        code: undefined,
        message: 'phone number id must be digits',
      };
    }
    const url = `${options.baseUrl}/${options.version}/${phoneNumberId}/messages`;
    const body = { messaging_product: 'whatsapp', recipient_type: 'individual', ...payload };
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await options.accessToken()}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      text = await response.text();
    } catch (error) {
      const code = errorCode(error);
      if (code && NOT_SENT.has(code)) {
        return {
          kind: 'rejected',
          class: 'transient',
          httpStatus: 0,
          code: undefined,
          message: code,
        };
      }
      return {
        kind: 'unknown',
        reason: code ?? (error instanceof Error ? error.name : 'request failed'),
      };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.ok) {
      const id = (json as { messages?: Array<{ id?: unknown }> } | undefined)?.messages?.[0]?.id;
      if (typeof id === 'string' && id !== '') return { kind: 'accepted', wamid: id };
      // A 2xx without an id: the provider may well have accepted it. Wait for evidence.
      return { kind: 'unknown', reason: `HTTP ${response.status} without a message id` };
    }
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof error?.code === 'number' ? error.code : undefined;
    if (response.status >= 500 && code === undefined) {
      // Not the Graph API refusing (it always names a code) but something in front of it, e.g. a
      // 502/504 from a gateway that timed out waiting: the message may well have been accepted.
      return { kind: 'unknown', reason: `HTTP ${response.status} without a Graph API error` };
    }
    return {
      kind: 'rejected',
      class: classifyError(response.status, code),
      httpStatus: response.status,
      code,
      message:
        typeof error?.message === 'string'
          ? error.message.slice(0, 300)
          : `HTTP ${response.status}`,
    };
  }

  return {
    sendTemplate: (send) =>
      post(send.phoneNumberId, {
        to: send.to.replace(/^\+/, ''),
        type: 'template',
        template: {
          name: send.template.name,
          language: { code: send.template.language },
          ...(send.template.components ? { components: send.template.components } : {}),
        },
        biz_opaque_callback_data: send.callbackData,
      }),
    sendText: (send) =>
      post(send.phoneNumberId, {
        to: send.to.replace(/^\+/, ''),
        type: 'text',
        text: { body: send.body, preview_url: false },
        biz_opaque_callback_data: send.callbackData,
      }),
  };
}
