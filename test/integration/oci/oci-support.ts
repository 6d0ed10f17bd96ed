/**
 * Shared drivers for the OCI integration tests and crash flows: tenants with `googleAds`, the real
 * OCI handlers invoked with HTTP API v2 and Scheduler events, a Google Ads simulator on a free port
 * (the uploader is pointed at it), a "script" that does what the Google Ads script does (export,
 * upload to the simulator with the same orderIds, ack Google's answers), and the simulator ledger.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advanceSystemClock, systemClock } from '../../../functions/kernel/clock.js';
import { FailpointCrashError } from '../../../functions/kernel/failpoints.js';
import { handler as ackHandler } from '../../../functions/oci/handlers/ack-conversions.js';
import { handler as exportHandler } from '../../../functions/oci/handlers/export-conversions.js';
import { handler as listHandler } from '../../../functions/oci/handlers/list-conversions.js';
import { handler as recordCallHandler } from '../../../functions/oci/handlers/record-call.js';
import { handler as recoverHandler } from '../../../functions/oci/handlers/recover-stale-rows.js';
import { handler as retractHandler } from '../../../functions/oci/handlers/retract-conversion.js';
import { handler as sealHandler } from '../../../functions/oci/handlers/seal-call.js';
import { handler as uploadHandler } from '../../../functions/oci/handlers/upload-conversions.js';
import { listen } from '../../../lib/local/http-util.js';
import { googleAdsSimulator } from '../../../lib/local/sim/google-ads.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';
import { testGoogleAds, testTenant } from '../../support/test-tenant.js';
import {
  apiCall,
  type HttpResult,
  invoke,
  lambdaContext,
} from '../conversations/inbound-support.js';

export interface OciTenant {
  readonly tenantId: string;
  readonly customerId: string;
  readonly conversionAction: string;
  /** The action's name as Google Ads shows it (the CSV's Conversion Name). */
  readonly conversionName: string;
  readonly apiKey: string;
  readonly exportToken: string;
}

export async function createOciTenant(uploadMode: 'script' | 'api'): Promise<OciTenant> {
  const googleAds = testGoogleAds(uploadMode);
  const tenant = await testTenant({ googleAds }, { idPrefix: 'oci', idLength: 12 });
  return {
    tenantId: tenant.tenantId,
    customerId: googleAds.customerId,
    conversionAction: googleAds.conversionAction,
    conversionName: googleAds.conversionName,
    apiKey: tenant.apiKey,
    exportToken: tenant.exportToken,
  };
}

function jsonCall(
  token: string,
  method: 'GET' | 'POST',
  routeKey: string,
  path: string,
  body?: unknown,
) {
  return apiCall(token, { method, routeKey, path, body });
}

/**
 * A click a while ago: so `conversionTime` = now is after it, and its conversion is due at once
 * (a conversion is due no earlier than its click + 6 hours).
 */
export function clickTime(): string {
  return new Date(systemClock.now() - 7 * 3600_000).toISOString();
}

export function postCall(
  tenant: Pick<OciTenant, 'apiKey'>,
  body: Record<string, unknown>,
): Promise<HttpResult> {
  return invoke(
    recordCallHandler,
    jsonCall(tenant.apiKey, 'POST', 'POST /v1/calls', '/v1/calls', body),
  );
}

export function seal(
  tenant: Pick<OciTenant, 'apiKey'>,
  callId: string,
  body: Record<string, unknown> = {},
): Promise<HttpResult> {
  return invoke(sealHandler, {
    ...jsonCall(tenant.apiKey, 'POST', 'POST /v1/calls/{callId}/seal', `/v1/calls/${callId}/seal`, {
      value: 120,
      currency: 'USD',
      conversionTime: new Date(systemClock.now()).toISOString(),
      ...body,
    }),
    pathParameters: { callId },
  });
}

export function exportRowsCall(
  token: string,
  query: Record<string, string> = {},
): Promise<HttpResult> {
  return invoke(exportHandler, {
    ...jsonCall(token, 'GET', 'GET /oci/google-ads-export', '/oci/google-ads-export'),
    query,
  });
}

export function ack(token: string, body: unknown): Promise<HttpResult> {
  return invoke(ackHandler, jsonCall(token, 'POST', 'POST /oci/ack', '/oci/ack', body));
}

export function retract(
  tenant: Pick<OciTenant, 'apiKey'>,
  conversionId: string,
): Promise<HttpResult> {
  return invoke(retractHandler, {
    ...jsonCall(
      tenant.apiKey,
      'POST',
      'POST /v1/conversions/oci/{conversionId}/retract',
      `/v1/conversions/oci/${conversionId}/retract`,
    ),
    pathParameters: { conversionId },
  });
}

export interface ListedConversion {
  conversionId: string;
  orderId: string;
  sessionId: string;
  callId: string;
  status: string;
  attempts: number;
  lastError: string | null;
  retractedAt: string | null;
}

/** One page of the listing route, from `cursor`. */
export function listPage(tenant: Pick<OciTenant, 'apiKey'>, cursor?: string): Promise<HttpResult> {
  return invoke(listHandler, {
    ...jsonCall(tenant.apiKey, 'GET', 'GET /v1/conversions/oci', '/v1/conversions/oci'),
    query: cursor ? { cursor } : {},
  });
}

/** Every conversion of the tenant, through the listing route's pages. */
export async function listAll(tenant: Pick<OciTenant, 'apiKey'>): Promise<ListedConversion[]> {
  const all: ListedConversion[] = [];
  let cursor: string | undefined;
  do {
    const result = await listPage(tenant, cursor);
    if (result.status !== 200) throw new Error(`listing answered ${result.status}: ${result.text}`);
    all.push(...result.json.conversions);
    cursor = result.json.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

/**
 * Runs a schedule handler the way EventBridge Scheduler does, until a run does the work: test
 * files share the conversions table, so another file's run may hold the schedule's lease, and then
 * this run stops at once (as on AWS) and the next firing does it.
 */
export async function runSchedule(which: 'upload' | 'recover'): Promise<unknown> {
  const fn = which === 'upload' ? uploadHandler : recoverHandler;
  for (let firing = 1; ; firing++) {
    const result = await (fn as unknown as (event: unknown, context: unknown) => Promise<unknown>)(
      { source: 'aws.scheduler' },
      lambdaContext,
    );
    const skipped = (result as { skipped?: unknown } | undefined)?.skipped !== undefined;
    if (!skipped || firing >= 50) return result;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Retries `step` while a failpoint crashes it (what a client retry or the next tick does). */
export async function untilNoCrash<T>(step: () => Promise<T>, maxCrashes = 5): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof FailpointCrashError) || i >= maxCrashes) throw error;
    }
  }
}

export interface GoogleSim {
  readonly baseUrl: string;
  ledger(): Promise<{
    received: Array<{ orderId: string | null; customerId: string; outcome: string }>;
    counted: Array<{ orderId: string | null; customerId: string }>;
    retracted: string[];
    requests: { total: number; refused: number };
  }>;
  faults(googleAds: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
}

let sim: Promise<GoogleSim> | undefined;

/** One Google Ads simulator per test worker, on a free port; the uploader is pointed at it. */
export function googleSim(): Promise<GoogleSim> {
  sim ??= (async (): Promise<GoogleSim> => {
    const dataDir = mkdtempSync(join(tmpdir(), 'oci-sim-'));
    const server = createSimulatorServer({
      context: {
        apiBaseUrl: 'http://127.0.0.1:1',
        simBaseUrl: '',
        env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : process.env[name]),
        log: () => {},
      },
      factories: [googleAdsSimulator],
    });
    const port = await listen(server.server, 0, '127.0.0.1');
    server.server.unref();
    const baseUrl = `http://127.0.0.1:${port}`;
    process.env.GOOGLE_ADS_API_BASE_URL = baseUrl;
    process.env.GOOGLE_ADS_OAUTH_TOKEN_URL = `${baseUrl}/token`;
    return {
      baseUrl,
      async ledger() {
        const response = await fetch(`${baseUrl}/_sim/google-ads/conversions`);
        return (await response.json()) as Awaited<ReturnType<GoogleSim['ledger']>>;
      },
      async faults(googleAds) {
        const response = await fetch(`${baseUrl}/_sim/faults`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ googleAds }),
        });
        if (response.status !== 200) throw new Error(`faults refused: ${await response.text()}`);
      },
      async clearFaults() {
        await fetch(`${baseUrl}/_sim/faults`, { method: 'DELETE' });
      },
    };
  })();
  return sim as Promise<GoogleSim>;
}

/**
 * What the Google Ads script does, against the simulator instead of AdsApp: export (claim), upload
 * the rows with their orderIds, ack each row with Google's answer. `crashBeforeAck` drops the ack,
 * as a script killed after its upload would.
 */
export async function scriptRun(
  tenant: OciTenant,
  options: { kind?: 'conversions' | 'adjustments'; crashBeforeAck?: boolean; limit?: number } = {},
): Promise<number> {
  const s = await googleSim();
  const kind = options.kind ?? 'conversions';
  const exported = await exportRowsCall(tenant.exportToken, {
    kind,
    limit: String(options.limit ?? 2000),
  });
  if (exported.status !== 200) throw new Error(`export answered ${exported.status}`);
  const rows = exported.json.rows as Array<Record<string, unknown>>;
  if (rows.length === 0) return 0;
  const operation =
    kind === 'conversions' ? 'uploadClickConversions' : 'uploadConversionAdjustments';
  const body =
    kind === 'conversions'
      ? {
          conversions: rows.map((r) => ({
            ...(r.gclid ? { gclid: r.gclid } : {}),
            ...(r.gbraid ? { gbraid: r.gbraid } : {}),
            ...(r.wbraid ? { wbraid: r.wbraid } : {}),
            conversionAction: r.conversionAction,
            conversionDateTime: r.conversionTime,
            conversionValue: r.value,
            currencyCode: r.currency,
            orderId: r.orderId,
          })),
          partialFailure: true,
        }
      : {
          conversionAdjustments: rows.map((r) => ({
            conversionAction: r.conversionAction,
            adjustmentType: r.adjustmentType,
            adjustmentDateTime: r.adjustmentTime,
            orderId: r.orderId,
          })),
          partialFailure: true,
        };
  const response = await fetch(`${s.baseUrl}/v25/customers/${tenant.customerId}:${operation}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer script',
      'developer-token': 'script',
    },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as {
    partialFailureError?: {
      details: Array<{
        errors: Array<{
          errorCode: Record<string, string>;
          location?: { fieldPathElements: Array<{ index?: number }> };
        }>;
      }>;
    };
  };
  const errors = new Map<number, string>();
  for (const detail of answer.partialFailureError?.details ?? []) {
    for (const e of detail.errors) {
      const index = e.location?.fieldPathElements.find((p) => p.index !== undefined)?.index;
      if (index !== undefined) errors.set(index, Object.values(e.errorCode)[0] as string);
    }
  }
  if (options.crashBeforeAck) return rows.length;
  const results = rows.map((r, i) => {
    const error = errors.get(i);
    return {
      orderId: r.orderId,
      status: error ? 'failed' : 'completed',
      ...(error ? { error } : {}),
    };
  });
  await untilNoCrash(async () => {
    const acked = await ack(tenant.exportToken, { kind, results });
    if (acked.status !== 200) throw new Error(`ack answered ${acked.status}`);
  });
  return rows.length;
}

export function advanceSeconds(seconds: number): void {
  advanceSystemClock(seconds * 1000);
}

/** Sessions × calls for one tenant: returns callIds grouped by session. */
export async function makeCalls(
  tenant: OciTenant,
  sessions: number,
  callsPerSession: number,
): Promise<string[][]> {
  const occurredAt = clickTime();
  const groups: string[][] = [];
  for (let s = 0; s < sessions; s++) {
    const sessionId = `s-${randomUUID().slice(0, 10)}`;
    const gclid = `Cj0K${randomUUID().replaceAll('-', '')}`;
    const ids = Array.from({ length: callsPerSession }, (_, c) => `${sessionId}-c${c}`);
    for (const callId of ids) {
      const result = await postCall(tenant, {
        callId,
        sessionId,
        gclid,
        source: 'click',
        occurredAt,
      });
      if (result.status !== 201) throw new Error(`call answered ${result.status}: ${result.text}`);
    }
    groups.push(ids);
  }
  return groups;
}
