/**
 * The Google Ads API simulator (part of the provider simulators on SIM_PORT), for API-mode uploads.
 *
 * - `POST /token`: OAuth refresh-token exchange → `{access_token, expires_in, token_type}`, or
 *   400 `invalid_grant` while the `oauthRevoked` fault is set.
 * - `POST /{version}/customers/{customerId}:uploadClickConversions` and
 *   `:uploadConversionAdjustments`, with Google's request checks (Bearer token and
 *   `developer-token` → else 401 UNAUTHENTICATED; `partialFailure: true` → else 400
 *   INVALID_ARGUMENT; at most 2,000 rows → TOO_MANY_CONVERSIONS_IN_REQUEST) and per-row answers
 *   as Google gives them: an empty result at the row's index plus an error in
 *   `partialFailureError.details[].errors[]` whose `location.fieldPathElements` name the list and
 *   the index.
 * - Deduplication as Google counts: one conversion per (conversion action, orderId)
 *   (`ORDER_ID_ALREADY_IN_USE`, `DUPLICATE_ORDER_ID` inside one request), one per (click,
 *   conversion time, action) (`CLICK_CONVERSION_ALREADY_EXISTS`). Retractions: one per counted
 *   conversion (`CONVERSION_ALREADY_RETRACTED`), only 24 hours to 54 days after its conversion
 *   time (`TOO_RECENT_CONVERSION`, `CONVERSION_EXPIRED`).
 * - `GET /_sim/google-ads/conversions` → `{received, counted, retracted, adjustments, requests}`.
 * - `GET /_sim/google-ads/exchanges` → the last 1,000 upload requests with the answers they got
 *   (`{operation, version, request, status, response}`), so tests can validate both against the
 *   protos.
 * - Faults (`PUT /_sim/faults {"googleAds": {...}}`): `errorRate`, `lostResponseRate` (processed,
 *   answer lost), `latencyMs`, `quotaExceededRate`, `tooRecentClickIds`, `unknownClickIds`, `oauthRevoked`.
 * - Versions as Google serves them: a version past its sunset (the calendar in
 *   `functions/kernel/provider-versions.ts`) or one Google never had answers 404, as Google's front
 *   end does for a sunset version's REST path.
 * - Answers in Google's REST shape (proto3 JSON mapping): `jobId` is an int64, a decimal string,
 *   picked in [2^31, 2^63) as Google does when the request sets none; every error code is a value
 *   of Google's enums (`test/unit/google-ads-protos.test.ts` validates requests and answers against
 *   the protos of `google-ads-node`).
 *
 * Its clock is the process clock seam (`/_local/clock/advance` moves it too). Like the WhatsApp
 * simulator, the ledger is appended to `<ONCEFLOW_DATA_DIR>/sim/google-ads.jsonl`, so Google's
 * memory of what it counted survives a restart of the runtime.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock } from '../../../functions/kernel/clock.js';
import { versionStatus } from '../../../functions/kernel/provider-versions.js';
import { readBody, readJson, sendJson } from '../http-util.js';
import { FaultStore, googleAdsFaultsSchema } from './faults.js';
import type { SimulatorContext, SimulatorFactory } from './index.js';
import { openJournal } from './journal.js';

const UPLOAD_PATH =
  /^\/(v\d+)\/customers\/(\d{10}):(uploadClickConversions|uploadConversionAdjustments)$/;
const GOOGLE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;
const CLICK_ID = /^[A-Za-z0-9_-]{1,256}$/;
const HOUR = 3600_000;

export interface ReceivedRow {
  readonly customerId: string;
  readonly orderId: string | null;
  readonly conversionAction: string;
  readonly gclid?: string;
  readonly gbraid?: string;
  readonly wbraid?: string;
  readonly conversionDateTime: string;
  readonly receivedAt: string;
  /** Google's int64 job id, as its JSON carries it (a decimal string). */
  readonly jobId: string;
  /** `counted` or Google's error code. */
  readonly outcome: string;
}

export interface CountedConversion {
  readonly customerId: string;
  readonly orderId: string | null;
  readonly conversionAction: string;
  readonly click: string;
  readonly conversionDateTime: string;
  readonly countedAt: string;
  readonly jobId: string;
}

const INT64_JOB_ID_MIN = 2n ** 31n;
const INT64_JOB_ID_SPAN = 2n ** 63n - INT64_JOB_ID_MIN;

/** A job id as Google picks one when the request sets none: an int64 in [2^31, 2^63). */
export function googleJobId(): string {
  return String(INT64_JOB_ID_MIN + (randomBytes(8).readBigUInt64BE() % INT64_JOB_ID_SPAN));
}

function parseGoogleTime(text: string): number {
  // `2026-11-22 05:19:55+00:00` → ISO.
  return Date.parse(text.replace(' ', 'T'));
}

function failure(
  version: string,
  errors: Array<{ code: Record<string, string>; message: string; index?: number; list?: string }>,
) {
  return {
    '@type': `type.googleapis.com/google.ads.googleads.${version}.errors.GoogleAdsFailure`,
    errors: errors.map((e) => ({
      errorCode: e.code,
      message: e.message,
      ...(e.index !== undefined
        ? { location: { fieldPathElements: [{ fieldName: e.list, index: e.index }] } }
        : {}),
    })),
    requestId: randomBytes(11).toString('base64url'),
  };
}

function requestError(
  res: ServerResponse,
  version: string,
  httpStatus: number,
  status: string,
  message: string,
  code?: Record<string, string>,
): void {
  sendJson(res, httpStatus, {
    error: {
      code: httpStatus,
      message,
      status,
      ...(code ? { details: [failure(version, [{ code, message }])] } : {}),
    },
  });
}

/** A sunset (or never existing) version: Google's front end answers the REST path with a 404 page. */
function versionNotFound(res: ServerResponse, path: string): void {
  res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8' });
  res.end(
    `<!DOCTYPE html><title>Error 404 (Not Found)</title><p>The requested URL <code>${path.replace(/[<>&]/g, '')}</code> was not found on this server.</p>`,
  );
}

/** One upload request and the answer it got, as bytes went over the wire. */
export interface Exchange {
  readonly operation: string;
  readonly version: string;
  request?: unknown;
  status: number;
  response?: string;
}

const MAX_EXCHANGES = 1000;

/** Records what `res` sends into `exchange`. */
function recordAnswer(res: ServerResponse, exchange: Exchange): void {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    exchange.status = res.statusCode;
    const chunk = args[0];
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) exchange.response = String(chunk);
    return end(...args);
  }) as ServerResponse['end'];
}

/** One line of the journal. */
interface GoogleAdsEvent {
  readonly t: 'received' | 'counted' | 'retracted';
  readonly row?: ReceivedRow;
  readonly entry?: CountedConversion;
  readonly key?: string;
  readonly orderId?: string;
}

/** A row's error in a `partialFailure` answer. */
interface RowError {
  readonly code: Record<string, string>;
  readonly message: string;
  readonly index: number;
  readonly list: string;
}

/** The two lists of a `partialFailure: true` answer: one result per row, errors by row index. */
function partialFailureAnswer() {
  return { results: [] as Array<Record<string, unknown>>, errors: [] as RowError[] };
}

export const googleAdsSimulator: SimulatorFactory = (context: SimulatorContext) => {
  const faults = new FaultStore(googleAdsFaultsSchema);
  let faultsSetAt = systemClock.now();
  const journal = openJournal<GoogleAdsEvent>(context, 'google-ads');
  const received: ReceivedRow[] = [];
  const counted = new Map<string, CountedConversion>();
  const byClick = new Set<string>();
  const retracted = new Map<string, string>();
  const adjustments: Array<{ orderId: string; outcome: string; receivedAt: string }> = [];
  const requests = { total: 0, refused: 0 };
  const exchanges: Exchange[] = [];

  const orderKey = (action: string, orderId: string) => `${action}|${orderId}`;
  const clickKey = (action: string, click: string, time: string) =>
    `${action}|${click}|${parseGoogleTime(time)}`;

  const record = journal.record;

  for (const event of journal.replayed) {
    if (event.t === 'received' && event.row) received.push(event.row);
    if (event.t === 'counted' && event.entry) {
      const e = event.entry;
      if (e.orderId) counted.set(orderKey(e.conversionAction, e.orderId), e);
      else counted.set(`click|${received.length}|${counted.size}`, e);
      byClick.add(clickKey(e.conversionAction, e.click, e.conversionDateTime));
    }
    if (event.t === 'retracted' && event.key && event.orderId) {
      retracted.set(event.key, event.orderId);
    }
  }

  function checkAuth(req: IncomingMessage, res: ServerResponse, version: string): boolean {
    const auth = req.headers.authorization ?? '';
    const developerToken = req.headers['developer-token'];
    if (!/^Bearer\s+\S+/.test(auth) || typeof developerToken !== 'string' || !developerToken) {
      requestError(
        res,
        version,
        401,
        'UNAUTHENTICATED',
        'Request is missing required authentication credential.',
        developerToken
          ? { authenticationError: 'AUTHENTICATION_ERROR' }
          : { requestError: 'DEVELOPER_TOKEN_PARAMETER_MISSING' },
      );
      return false;
    }
    return true;
  }

  function tooRecent(click: string): boolean {
    return (
      faults.get().tooRecentClickIds.includes(click) && systemClock.now() < faultsSetAt + 6 * HOUR
    );
  }

  function uploadConversions(
    customerId: string,
    rows: Array<Record<string, unknown>>,
    jobId: string,
  ) {
    const { results, errors } = partialFailureAnswer();
    const seenOrders = new Set<string>();
    const now = new Date(systemClock.now()).toISOString();
    rows.forEach((row, index) => {
      const fail = (code: Record<string, string>, message: string) => {
        errors.push({ code, message, index, list: 'conversions' });
        results.push({});
        return Object.values(code)[0] as string;
      };
      const action = typeof row.conversionAction === 'string' ? row.conversionAction : '';
      const time = typeof row.conversionDateTime === 'string' ? row.conversionDateTime : '';
      const orderId = typeof row.orderId === 'string' && row.orderId !== '' ? row.orderId : null;
      const clicks = (['gclid', 'gbraid', 'wbraid'] as const).filter(
        (k) => typeof row[k] === 'string' && row[k] !== '',
      );
      const clickField = clicks[0];
      const click = clickField ? String(row[clickField]) : '';
      let outcome: string;
      if (row.gbraid && row.wbraid) {
        outcome = fail(
          { conversionUploadError: 'GBRAID_WBRAID_BOTH_SET' },
          'Both gbraid and wbraid are set.',
        );
      } else if (clicks.length !== 1) {
        outcome = fail(
          { conversionUploadError: 'UNPARSEABLE_GCLID' },
          'Exactly one of gclid, gbraid, wbraid is required.',
        );
      } else if (!new RegExp(`^customers/${customerId}/conversionActions/\\d+$`).test(action)) {
        outcome = fail(
          { conversionUploadError: 'NO_CONVERSION_ACTION_FOUND' },
          'The conversion action was not found.',
        );
      } else if (!GOOGLE_TIME.test(time) || Number.isNaN(parseGoogleTime(time))) {
        outcome = fail(
          { dateError: 'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET' },
          'conversion_date_time must be yyyy-mm-dd hh:mm:ss+|-hh:mm.',
        );
      } else if (orderId && (orderId.length > 64 || /@|^\+?\d{8,15}$/.test(orderId))) {
        outcome = fail(
          { conversionUploadError: 'ORDER_ID_CONTAINS_PII' },
          'The order id may contain personal data.',
        );
      } else if (!CLICK_ID.test(click) || faults.get().unknownClickIds.includes(click)) {
        const code = `UNPARSEABLE_${(clickField ?? 'gclid').toUpperCase()}`;
        outcome = fail({ conversionUploadError: code }, 'The click id could not be decoded.');
      } else if (tooRecent(click)) {
        outcome = fail(
          { conversionUploadError: 'TOO_RECENT_EVENT' },
          'The click occurred less than 6 hours ago.',
        );
      } else if (orderId && seenOrders.has(orderId)) {
        outcome = fail(
          { conversionUploadError: 'DUPLICATE_ORDER_ID' },
          'The order id is repeated in this request.',
        );
      } else if (orderId && counted.has(orderKey(action, orderId))) {
        outcome = fail(
          { conversionUploadError: 'ORDER_ID_ALREADY_IN_USE' },
          'A conversion with this order id was already uploaded.',
        );
      } else if (byClick.has(clickKey(action, click, time))) {
        outcome = fail(
          { conversionUploadError: 'CLICK_CONVERSION_ALREADY_EXISTS' },
          'A conversion for this click and time already exists.',
        );
      } else {
        const entry: CountedConversion = {
          customerId,
          orderId,
          conversionAction: action,
          click,
          conversionDateTime: time,
          countedAt: now,
          jobId,
        };
        counted.set(
          orderId ? orderKey(action, orderId) : `click|${received.length}|${counted.size}`,
          entry,
        );
        byClick.add(clickKey(action, click, time));
        record({ t: 'counted', entry });
        // ClickConversionResult names the click, the action and the time (no order id).
        results.push({
          [clickField as string]: click,
          conversionAction: action,
          conversionDateTime: time,
        });
        outcome = 'counted';
      }
      if (orderId) seenOrders.add(orderId);
      const entry: ReceivedRow = {
        customerId,
        orderId,
        conversionAction: action,
        ...(clickField ? { [clickField]: click } : {}),
        conversionDateTime: time,
        receivedAt: now,
        jobId,
        outcome,
      };
      received.push(entry);
      record({ t: 'received', row: entry });
    });
    return { results, errors };
  }

  function uploadAdjustments(customerId: string, rows: Array<Record<string, unknown>>) {
    const { results, errors } = partialFailureAnswer();
    const now = systemClock.now();
    rows.forEach((row, index) => {
      const action = typeof row.conversionAction === 'string' ? row.conversionAction : '';
      const orderId = typeof row.orderId === 'string' ? row.orderId : '';
      const fail = (code: string, message: string, kind = 'conversionAdjustmentUploadError') => {
        errors.push({ code: { [kind]: code }, message, index, list: 'conversion_adjustments' });
        results.push({});
        adjustments.push({ orderId, outcome: code, receivedAt: new Date(now).toISOString() });
      };
      const key = orderKey(action, orderId);
      const conversion = counted.get(key);
      if (row.adjustmentType !== 'RETRACTION' && row.adjustmentType !== 'RESTATEMENT') {
        fail(
          'INVALID_ENUM_VALUE',
          'adjustment_type must be RETRACTION or RESTATEMENT.',
          'requestError',
        );
      } else if (!new RegExp(`^customers/${customerId}/conversionActions/\\d+$`).test(action)) {
        fail('NO_CONVERSION_ACTION_FOUND', 'The conversion action was not found.');
      } else if (!conversion) {
        fail('CONVERSION_NOT_FOUND', 'No conversion with this order id.');
      } else if (retracted.has(key)) {
        fail('CONVERSION_ALREADY_RETRACTED', 'The conversion was already retracted.');
      } else if (now < parseGoogleTime(conversion.conversionDateTime) + 24 * HOUR) {
        fail('TOO_RECENT_CONVERSION', 'The conversion is less than 24 hours old.');
      } else if (now > parseGoogleTime(conversion.conversionDateTime) + 54 * 24 * HOUR) {
        fail('CONVERSION_EXPIRED', 'The conversion is more than 54 days old.');
      } else {
        retracted.set(key, orderId);
        record({ t: 'retracted', key, orderId });
        adjustments.push({
          orderId,
          outcome: 'retracted',
          receivedAt: new Date(now).toISOString(),
        });
        results.push({
          orderId,
          conversionAction: action,
          adjustmentType: row.adjustmentType,
          adjustmentDateTime: row.adjustmentDateTime,
        });
      }
    });
    return { results, errors };
  }

  async function handleUpload(
    req: IncomingMessage,
    res: ServerResponse,
    version: string,
    customerId: string,
    operation: string,
    exchange: Exchange,
  ) {
    requests.total += 1;
    let body: Record<string, unknown>;
    try {
      body = ((await readJson(req)) ?? {}) as Record<string, unknown>;
      exchange.request = body;
    } catch {
      requests.refused += 1;
      requestError(res, version, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      return;
    }
    if (!checkAuth(req, res, version)) {
      requests.refused += 1;
      return;
    }
    const current = faults.get();
    if (current.latencyMs > 0) await new Promise((r) => setTimeout(r, current.latencyMs));
    const listField =
      operation === 'uploadClickConversions' ? 'conversions' : 'conversionAdjustments';
    const rows = body[listField];
    if (body.partialFailure !== true) {
      // `partial_failure` is REQUIRED (field_behavior) and must be true for these uploads.
      requests.refused += 1;
      requestError(res, version, 400, 'INVALID_ARGUMENT', 'partial_failure must be true.', {
        fieldError: 'REQUIRED',
      });
      return;
    }
    if (!Array.isArray(rows) || rows.length === 0) {
      requests.refused += 1;
      requestError(res, version, 400, 'INVALID_ARGUMENT', `${listField} is required.`, {
        fieldError: 'REQUIRED_NONEMPTY_LIST',
      });
      return;
    }
    if (rows.length > 2000) {
      requests.refused += 1;
      requestError(
        res,
        version,
        400,
        'INVALID_ARGUMENT',
        'Too many rows in the request.',
        operation === 'uploadClickConversions'
          ? { conversionUploadError: 'TOO_MANY_CONVERSIONS_IN_REQUEST' }
          : { conversionAdjustmentUploadError: 'TOO_MANY_ADJUSTMENTS_IN_REQUEST' },
      );
      return;
    }
    if (Math.random() < current.quotaExceededRate) {
      requests.refused += 1;
      requestError(res, version, 429, 'RESOURCE_EXHAUSTED', 'Too many requests.', {
        quotaError: 'RESOURCE_EXHAUSTED',
      });
      return;
    }
    if (Math.random() < current.errorRate) {
      requests.refused += 1;
      requestError(res, version, 500, 'INTERNAL', 'Internal error encountered.', {
        internalError: 'INTERNAL_ERROR',
      });
      return;
    }
    // The request's job_id is an optional int32; the answer's an int64 (a JSON string).
    const jobId = typeof body.jobId === 'number' ? String(body.jobId) : googleJobId();
    const { results, errors } =
      operation === 'uploadClickConversions'
        ? uploadConversions(customerId, rows as Array<Record<string, unknown>>, jobId)
        : uploadAdjustments(customerId, rows as Array<Record<string, unknown>>);
    if (Math.random() < current.lostResponseRate) {
      // Google processed the request; its answer never arrives.
      req.socket.destroy();
      return;
    }
    sendJson(res, 200, {
      results,
      ...(errors.length > 0
        ? {
            partialFailureError: {
              code: 3,
              message: errors
                .map((e) => `${e.message} at ${e.list}[${e.index}]`)
                .slice(0, 20)
                .join(', '),
              details: [failure(version, errors)],
            },
          }
        : {}),
      jobId,
    });
  }

  return {
    name: 'googleAds',
    async handle(req, res, url) {
      if (req.method === 'GET' && url.pathname === '/_sim/google-ads/conversions') {
        sendJson(res, 200, {
          received,
          counted: [...counted.values()],
          retracted: [...retracted.values()],
          adjustments,
          requests,
        });
        return true;
      }
      if (req.method === 'GET' && url.pathname === '/_sim/google-ads/exchanges') {
        sendJson(res, 200, { exchanges });
        return true;
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        await readBody(req).catch(() => Buffer.alloc(0));
        if (faults.get().oauthRevoked) {
          // RFC 6749 §5.2's error for a refresh token that is no longer valid, as Google sends it.
          sendJson(res, 400, {
            error: 'invalid_grant',
            error_description: 'Token has been expired or revoked.',
          });
          return true;
        }
        sendJson(res, 200, {
          access_token: `ya29.local-${randomBytes(12).toString('base64url')}`,
          expires_in: 3599,
          token_type: 'Bearer',
        });
        return true;
      }
      const match = UPLOAD_PATH.exec(url.pathname);
      if (!match) return false;
      const version = match[1] ?? '';
      const exchange: Exchange = { operation: match[3] ?? '', version, status: 0 };
      exchanges.push(exchange);
      if (exchanges.length > MAX_EXCHANGES) exchanges.shift();
      recordAnswer(res, exchange);
      const served = versionStatus('googleAds', version, systemClock.now()).state;
      if (served === 'sunset' || served === 'unknown') {
        requests.total += 1;
        requests.refused += 1;
        versionNotFound(res, url.pathname);
        return true;
      }
      if (req.method !== 'POST') {
        requestError(res, version, 405, 'INVALID_ARGUMENT', 'Method not allowed.');
        return true;
      }
      await handleUpload(req, res, version, match[2] ?? '', match[3] ?? '', exchange);
      return true;
    },
    reset() {
      received.length = 0;
      counted.clear();
      byClick.clear();
      retracted.clear();
      adjustments.length = 0;
      requests.total = 0;
      requests.refused = 0;
      exchanges.length = 0;
      journal.clear();
    },
    setFaults(input) {
      faults.set(input);
      faultsSetAt = systemClock.now();
    },
    clearFaults() {
      faults.clear();
    },
    getFaults() {
      return faults.armed();
    },
  };
};
