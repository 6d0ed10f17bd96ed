/**
 * The Google Ads API client for API mode: an OAuth access token from the refresh token (cached until
 * shortly before it expires), then `uploadClickConversions` / `uploadConversionAdjustments` with
 * `partialFailure: true`. The answer is read by index: `partialFailureError.details[].errors[]`
 * name `conversions` (or `conversion_adjustments`) and the row's index in `fieldPathElements`.
 * Anything but a readable answer (a request-level error, RESOURCE_EXHAUSTED, a timeout, a lost
 * answer) is `unknown`: the caller uploads again later with the same orderIds. An answer meaning
 * "this version or method does not exist" is `version_rejected`: a configuration error, never
 * retried blind.
 *
 * REST JSON is proto3's JSON mapping (https://protobuf.dev/programming-guides/json/): the answer's
 * `job_id` is an int64, so it arrives as a JSON string and is kept as one (Google picks it in
 * [2^31, 2^63) when the request sets none: `Number` would lose digits).
 */
import { type Clock, systemClock } from '../kernel/clock.js';
import type { ClickKind } from './model.js';

/**
 * A `ClickConversion` as the REST API names its fields (proto3 JSON: camelCase), with exactly one
 * of its click ids (`gclid`, `gbraid`, `wbraid`).
 */
export type GoogleClickConversion = { readonly [K in ClickKind]?: string } & {
  readonly conversionAction: string;
  readonly conversionDateTime: string;
  readonly conversionValue: number;
  readonly currencyCode: string;
  /** Optional in Google's proto; onceflow always sends it (Google deduplicates by it). */
  readonly orderId?: string;
};

/** A `ConversionAdjustment` (a retraction, by the conversion's order id). */
export interface GoogleConversionAdjustment {
  readonly conversionAction: string;
  readonly adjustmentType: 'RETRACTION';
  readonly adjustmentDateTime: string;
  readonly orderId: string;
}

/** A row of either upload. */
export type GoogleRow = GoogleClickConversion | GoogleConversionAdjustment;

export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
}

export interface GoogleAdsClientConfig {
  readonly apiBaseUrl: string;
  readonly apiVersion: string;
  readonly tokenUrl: string;
  readonly oauth: () => Promise<OAuthClient>;
  readonly developerToken: () => Promise<string>;
  readonly loginCustomerId?: string;
  /** When the cached access token expires is read on this clock (the seam tests move). */
  readonly clock?: Clock;
}

export type UploadAnswer =
  | {
      readonly kind: 'answered';
      /** Google's int64 job id, as the decimal string the JSON mapping carries. */
      readonly jobId?: string;
      /** Google's error code for each failed row, by the row's index in the request. */
      readonly rowErrors: ReadonlyMap<number, string>;
    }
  | {
      readonly kind: 'unknown';
      /**
       * `refused`: Google refused the request as a whole (HTTP 400/401/403, or the OAuth token
       * endpoint's 4xx such as a revoked grant): nothing was processed, and it will not get better
       * by itself (a configuration error).
       */
      readonly reason: 'quota' | 'refused' | 'request_error' | 'timeout' | 'lost';
      readonly detail?: string;
    }
  | { readonly kind: 'version_rejected'; readonly detail: string };

export interface GoogleAdsUploader {
  upload(
    operation: 'uploadClickConversions' | 'uploadConversionAdjustments',
    customerId: string,
    rows: readonly GoogleRow[],
    timeoutMs: number,
  ): Promise<UploadAnswer>;
}

interface GoogleFailure {
  errors?: Array<{
    errorCode?: Record<string, string>;
    location?: { fieldPathElements?: Array<{ fieldName?: string; index?: number }> };
  }>;
}

/**
 * Google's ways of saying "this version or method does not exist": a sunset version's REST path is a
 * 404 (the gRPC status is UNIMPLEMENTED, 501 over HTTP), and a version on its way out can be
 * refused with `RequestError.UNSUPPORTED_VERSION` (RequestErrorEnum in Google's errors protos).
 */
export function isVersionRejection(httpStatus: number, body: unknown): boolean {
  if (httpStatus === 404 || httpStatus === 501) return true;
  const error = (body as { error?: { status?: string; details?: GoogleFailure[] } })?.error;
  if (error?.status === 'UNIMPLEMENTED') return true;
  return (error?.details ?? []).some((d) =>
    (d.errors ?? []).some((e) => e.errorCode?.requestError === 'UNSUPPORTED_VERSION'),
  );
}

/** An int64 of the JSON mapping (a decimal string; a number only from a lenient encoder). */
export function int64String(value: unknown): string | undefined {
  if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Reads `partialFailureError` into index → error code. */
export function rowErrorsOf(body: unknown, listField: string): Map<number, string> {
  const errors = new Map<number, string>();
  const details = (body as { partialFailureError?: { details?: GoogleFailure[] } })
    ?.partialFailureError?.details;
  for (const detail of details ?? []) {
    for (const error of detail.errors ?? []) {
      const element = error.location?.fieldPathElements?.find(
        (e) => e.fieldName === listField && typeof e.index === 'number',
      );
      if (element?.index === undefined) continue;
      const code = Object.values(error.errorCode ?? {})[0] ?? 'UNKNOWN';
      if (!errors.has(element.index)) errors.set(element.index, code);
    }
  }
  return errors;
}

/** The OAuth token endpoint refused the refresh token or the client (a 4xx). */
class OAuthRefusedError extends Error {
  override name = 'OAuthRefusedError';
}

/** What is left of a bound set at `deadline` (epoch ms). */
function remainingMs(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

export class HttpGoogleAdsUploader implements GoogleAdsUploader {
  private token?: { value: string; expiresAt: number };

  private readonly clock: Clock;

  constructor(private readonly config: GoogleAdsClientConfig) {
    this.clock = config.clock ?? systemClock;
  }

  private async accessToken(deadline: number): Promise<string> {
    if (this.token && this.token.expiresAt > this.clock.now() + 60_000) return this.token.value;
    const oauth = await this.config.oauth();
    const response = await fetch(this.config.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: oauth.clientId,
        client_secret: oauth.clientSecret,
        refresh_token: oauth.refreshToken,
      }).toString(),
      signal: AbortSignal.timeout(remainingMs(deadline)),
    });
    const body = (await response.json()) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
    };
    if (response.status >= 400 && response.status < 500) {
      // `invalid_grant` (a revoked or expired refresh token), `invalid_client`, ...: RFC 6749 §5.2.
      throw new OAuthRefusedError(`OAuth token refused: ${body.error ?? response.status}`);
    }
    if (!response.ok || !body.access_token) {
      throw new Error(`OAuth token request failed with ${response.status}`);
    }
    this.token = {
      value: body.access_token,
      expiresAt: this.clock.now() + (body.expires_in ?? 3600) * 1000,
    };
    return body.access_token;
  }

  async upload(
    operation: 'uploadClickConversions' | 'uploadConversionAdjustments',
    customerId: string,
    rows: readonly GoogleRow[],
    timeoutMs: number,
  ): Promise<UploadAnswer> {
    const listField =
      operation === 'uploadClickConversions' ? 'conversions' : 'conversion_adjustments';
    const bodyField =
      operation === 'uploadClickConversions' ? 'conversions' : 'conversionAdjustments';
    // One bound for the whole call (token, secrets, request, answer), so the caller's lease holds:
    // each step gets what is left, and nothing is sent once it is spent.
    const deadline = Date.now() + timeoutMs;
    try {
      const token = await this.accessToken(deadline);
      const developerToken = await this.config.developerToken();
      if (remainingMs(deadline) <= 0) return { kind: 'unknown', reason: 'timeout' };
      const response = await fetch(
        `${this.config.apiBaseUrl}/${this.config.apiVersion}/customers/${customerId}:${operation}`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${token}`,
            'developer-token': developerToken,
            ...(this.config.loginCustomerId
              ? { 'login-customer-id': this.config.loginCustomerId }
              : {}),
          },
          body: JSON.stringify({ [bodyField]: rows, partialFailure: true }),
          signal: AbortSignal.timeout(remainingMs(deadline)),
        },
      );
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (isVersionRejection(response.status, body)) {
        return {
          kind: 'version_rejected',
          detail: `${this.config.apiVersion}: HTTP ${response.status}`,
        };
      }
      if (body === undefined) {
        return { kind: 'unknown', reason: 'request_error', detail: `HTTP ${response.status}` };
      }
      if (!response.ok) {
        const status = (body as { error?: { status?: string } })?.error?.status;
        if (response.status === 429 || status === 'RESOURCE_EXHAUSTED') {
          return { kind: 'unknown', reason: 'quota', detail: status ?? 'RESOURCE_EXHAUSTED' };
        }
        if (response.status === 401) this.token = undefined;
        if ([400, 401, 403].includes(response.status)) {
          return {
            kind: 'unknown',
            reason: 'refused',
            detail: status ?? `HTTP ${response.status}`,
          };
        }
        return {
          kind: 'unknown',
          reason: 'request_error',
          detail: status ?? `HTTP ${response.status}`,
        };
      }
      const jobId = int64String((body as { jobId?: unknown }).jobId);
      return {
        kind: 'answered',
        ...(jobId !== undefined ? { jobId } : {}),
        rowErrors: rowErrorsOf(body, listField),
      };
    } catch (error) {
      if (error instanceof OAuthRefusedError) {
        return { kind: 'unknown', reason: 'refused', detail: error.message };
      }
      const name = (error as { name?: string })?.name;
      if (name === 'TimeoutError' || name === 'AbortError')
        return { kind: 'unknown', reason: 'timeout' };
      return { kind: 'unknown', reason: 'lost', detail: (error as Error)?.message };
    }
  }
}
