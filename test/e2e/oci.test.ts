/**
 * Offline conversions end to end: the local runtime as `npm start` runs it, a script-mode tenant
 * whose conversions go through the real Google Ads script file (loaded in a `vm` context with
 * `AdsApp`/`UrlFetchApp`/`Logger` faked; the fakes call the runtime and its Google Ads simulator
 * over HTTP), and an API-mode tenant uploaded by the uploader schedule. Google's ledger must hold
 * exactly one conversion per session.
 */
import { execFileSync } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createContext, runInContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callJson } from '../support/http-client.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';
import { pollUntil } from '../support/poll.js';

let runtime: SpawnedRuntime;
const ADMIN = 'e2e-admin-key';
const SCRIPT = readFileSync(
  new URL('../../scripts/google-ads/upload-offline-conversions.js', import.meta.url),
  'utf8',
);

beforeAll(async () => {
  runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_ADMIN_KEY: ADMIN },
    args: ['--schedule-speed', '30'],
  });
});
afterAll(async () => {
  await runtime?.stop();
});

const call = (method: string, path: string, token: string, body?: unknown) =>
  callJson(`${runtime.apiUrl}${path}`, method, { token, ...(body !== undefined ? { body } : {}) });

async function tenant(uploadMode: 'script' | 'api') {
  const tenantId = `e2e-oci-${randomUUID().slice(0, 8)}`;
  const customerId = String(randomInt(1_000_000_000, 9_999_999_999));
  const put = await call('PUT', `/v1/tenants/${tenantId}`, ADMIN, {
    name: 'Call tracking',
    defaultCountry: 'IL',
    googleAds: {
      customerId,
      conversionAction: `customers/${customerId}/conversionActions/7`,
      conversionName: 'Qualified call',
      uploadMode,
    },
  });
  expect(put.status).toBe(200);
  const credentials = await call('POST', `/v1/tenants/${tenantId}/credentials`, ADMIN);
  expect(credentials.status).toBe(201);
  return {
    tenantId,
    customerId,
    conversionAction: `customers/${customerId}/conversionActions/7`,
    conversionName: 'Qualified call',
    ...(credentials.json as { apiKey: string; exportToken: string }),
  };
}

async function sealSessions(t: { apiKey: string }, sessions: number, callsEach: number) {
  // Seven hours ago: a conversion is due no earlier than its click + 6 hours.
  const occurredAt = new Date(Date.now() - 7 * 3600_000).toISOString();
  const orderIds: string[] = [];
  for (let s = 0; s < sessions; s++) {
    const sessionId = `sess-${randomUUID().slice(0, 8)}`;
    const gclid = `Cj0K${randomUUID().replaceAll('-', '')}`;
    const answers = [];
    for (let c = 0; c < callsEach; c++) {
      const callId = `${sessionId}-${c}`;
      const made = await call('POST', '/v1/calls', t.apiKey, {
        callId,
        sessionId,
        gclid,
        source: 'click',
        occurredAt,
      });
      expect(made.status).toBe(201);
    }
    // "Approve all": every call of the session sealed at once.
    answers.push(
      ...(await Promise.all(
        Array.from({ length: callsEach }, (_, c) =>
          call('POST', `/v1/calls/${sessionId}-${c}/seal`, t.apiKey, {
            value: 50,
            currency: 'USD',
            conversionTime: new Date().toISOString(),
          }),
        ),
      )),
    );
    expect(answers.filter((a) => a.json.enqueued === true)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.json.orderId)).size).toBe(1);
    orderIds.push(answers[0]?.json.orderId);
  }
  return orderIds;
}

interface Ledger {
  counted: Array<{ orderId: string; customerId: string }>;
  received: Array<{ orderId: string; customerId: string; outcome: string }>;
}

async function ledger(): Promise<Ledger> {
  return (await fetch(`${runtime.simUrl}/_sim/google-ads/conversions`)).json() as Promise<Ledger>;
}

/** A synchronous HTTP call, as `UrlFetchApp.fetch` is: curl in a child process. */
function syncHttp(method: string, url: string, headers: Record<string, string>, payload?: string) {
  const args = ['-s', '-X', method, '-w', '\n%{http_code}', url];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  if (payload !== undefined) args.push('--data-binary', payload);
  const out = execFileSync('curl', args, { encoding: 'utf8' });
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), text: out.slice(0, cut) };
}

/**
 * Loads the real script with faked Ads objects; `apply` does what Google's CSV import does with the
 * file: reads each row in the upload's time zone, finds the conversion action by its name, and
 * uploads it to the simulator.
 */
function scriptContext(
  t: { customerId: string; exportToken: string; conversionAction: string; conversionName: string },
  options: { failApply?: boolean } = {},
) {
  const logs: string[] = [];
  const uploads: Array<{ columns: string[]; rows: Array<Record<string, unknown>> }> = [];
  const UrlFetchApp = {
    fetch(
      url: string,
      opts: {
        method?: string;
        headers?: Record<string, string>;
        payload?: string;
        contentType?: string;
      },
    ) {
      const result = syncHttp(
        (opts.method ?? 'get').toUpperCase(),
        url,
        { ...opts.headers, ...(opts.contentType ? { 'content-type': opts.contentType } : {}) },
        opts.payload,
      );
      return { getResponseCode: () => result.status, getContentText: () => result.text };
    },
  };
  const AdsApp = {
    bulkUploads: () => ({
      newCsvUpload(columns: string[], args: { timeZone?: string }) {
        // `+0000` → `+00:00`: the API's offset form of the upload's time zone.
        const zone = (args.timeZone ?? '').replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
        const action = (name: string) => {
          expect(name).toBe(t.conversionName);
          return t.conversionAction;
        };
        const adjustmentType = (csv: string) => ({ RETRACT: 'RETRACTION' })[csv] ?? csv;
        const rows: Array<Record<string, string>> = [];
        const upload = {
          forOfflineConversions: () => upload,
          setFileName: () => upload,
          append(row: Record<string, string>) {
            expect(Object.keys(row).sort()).toEqual([...columns].sort());
            rows.push(row);
            return upload;
          },
          preview: () => undefined,
          apply() {
            uploads.push({ columns, rows });
            if (options.failApply) throw new Error('Bulk upload failed: INTERNAL_ERROR');
            const adjustments = columns[0] === 'Order ID';
            const body = adjustments
              ? {
                  conversionAdjustments: rows.map((r) => ({
                    orderId: r['Order ID'],
                    conversionAction: action(r['Conversion Name'] as string),
                    adjustmentType: adjustmentType(r['Adjustment Type'] as string),
                    adjustmentDateTime: `${r['Adjustment Time']}${zone}`,
                  })),
                  partialFailure: true,
                }
              : {
                  conversions: rows.map((r) => ({
                    ...(r['Google Click ID'] ? { gclid: r['Google Click ID'] } : {}),
                    ...(r.GBRAID ? { gbraid: r.GBRAID } : {}),
                    ...(r.WBRAID ? { wbraid: r.WBRAID } : {}),
                    conversionAction: action(r['Conversion Name'] as string),
                    conversionDateTime: `${r['Conversion Time']}${zone}`,
                    conversionValue: Number(r['Conversion Value']),
                    currencyCode: r['Conversion Currency'],
                    orderId: r['Order ID'],
                  })),
                  partialFailure: true,
                };
            const op = adjustments ? 'uploadConversionAdjustments' : 'uploadClickConversions';
            const result = syncHttp(
              'POST',
              `${runtime.simUrl}/v25/customers/${t.customerId}:${op}`,
              {
                'content-type': 'application/json',
                authorization: 'Bearer ads-script',
                'developer-token': 'ads-script',
              },
              JSON.stringify(body),
            );
            expect(result.status).toBe(200);
          },
        };
        return upload;
      },
    }),
  };
  const context = createContext({
    UrlFetchApp,
    AdsApp,
    Logger: { log: (line: string) => logs.push(line) },
  });
  runInContext(SCRIPT, context);
  runInContext(
    `CONFIG.baseUrl = ${JSON.stringify(runtime.apiUrl)}; CONFIG.exportToken = ${JSON.stringify(t.exportToken)};`,
    context,
  );
  return {
    logs,
    uploads,
    /**
     * Runs the script. Its fetches are synchronous (curl), as `UrlFetchApp.fetch` is, so this
     * process's event loop stands still meanwhile: the API's close of a keep-alive connection that
     * idled that long is read only afterwards, and must be, before the next request reuses it.
     */
    async main() {
      const result = runInContext('main()', context) as {
        conversions: { uploaded: number; acked: number };
      };
      await new Promise((resolve) => setImmediate(resolve));
      return result;
    },
  };
}

describe('offline conversions over HTTP', () => {
  it('script mode: the Google Ads script uploads each session once, acks `uploaded` (never `completed` blind); a failed apply is retried', async () => {
    const t = await tenant('script');
    const orderIds = await sealSessions(t, 3, 3);

    const csv = await call('GET', '/oci/google-ads-export?format=csv&limit=1', t.exportToken);
    expect(csv.status).toBe(200);
    expect(csv.text.split('\n')[0]).toBe('Parameters:TimeZone=+0000');
    // That claimed row is `processing` until the stale window passes; move the clock past it.
    const advance = await fetch(`${runtime.apiUrl}/_local/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 901 }),
    });
    expect(advance.status).toBe(200);
    await pollUntil(
      async () => {
        const listed = await call('GET', '/v1/conversions/oci?status=processing', t.apiKey);
        return listed.json.conversions.length === 0;
      },
      { timeoutMs: 20_000, description: 'stale recovery' },
    );

    const failing = scriptContext(t, { failApply: true });
    expect((await failing.main()).conversions).toEqual({ uploaded: 3, acked: 3 });
    const listedAfterFailure = await call('GET', '/v1/conversions/oci?status=retry', t.apiKey);
    expect(listedAfterFailure.json.conversions).toHaveLength(3);

    const script = scriptContext(t);
    expect((await script.main()).conversions).toEqual({ uploaded: 3, acked: 3 });
    expect(script.uploads[0]?.rows.map((r) => r['Order ID']).sort()).toEqual([...orderIds].sort());
    expect((await script.main()).conversions).toEqual({ uploaded: 0, acked: 0 });
    // The Scripts API exposes no per-row result: handed over, not claimed counted.
    const uploaded = await call('GET', '/v1/conversions/oci?status=uploaded', t.apiKey);
    expect(uploaded.json.conversions).toHaveLength(3);
    const completed = await call('GET', '/v1/conversions/oci?status=completed', t.apiKey);
    expect(completed.json.conversions).toHaveLength(0);
    const counted = (await ledger()).counted.filter((c) => c.customerId === t.customerId);
    expect(counted.map((c) => c.orderId).sort()).toEqual([...orderIds].sort());
  });

  it('api mode: the uploader schedule puts each session in Google once', async () => {
    const t = await tenant('api');
    const orderIds = await sealSessions(t, 4, 2);
    const counted = await pollUntil(
      async () => {
        const mine = (await ledger()).counted.filter((c) => c.customerId === t.customerId);
        return mine.length === 4 ? mine : undefined;
      },
      { timeoutMs: 30_000, description: 'the uploader to count 4 conversions' },
    );
    expect(counted.map((c) => c.orderId).sort()).toEqual([...orderIds].sort());
    await pollUntil(
      async () =>
        (await call('GET', '/v1/conversions/oci?status=completed', t.apiKey)).json.conversions
          .length === 4,
      { timeoutMs: 20_000, description: 'rows completed' },
    );
  });
});
