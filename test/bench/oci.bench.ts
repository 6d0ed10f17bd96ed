/**
 * `npm run bench -- oci [--sessions N] [--calls C] [--concurrency K] [--json]`: N sessions
 * (default 10,000) × C calls (default 3), every call of a session sealed at once ("approve all"),
 * K sessions in flight; then uploaded in API mode to the Google Ads simulator with 5% request
 * errors and 10% lost answers. Beside it, in the same run and on the same DynamoDB Local and
 * simulator, the seed's approach: one queue row per sealed call, a check-then-insert per session
 * (a consistent query of the session's rows, then a put), no orderId, re-uploaded on any unknown.
 *
 * Both sides seal in-process (the domain call and its DynamoDB requests, no HTTP edge or auth) so
 * the counts compare the seal itself. Printed per side: conversions counted by the simulator,
 * seals/s, p50/p99 seal latency, DynamoDB requests and WCU per seal (`ReturnConsumedCapacity`),
 * Google requests per counted conversion. `--json` adds one JSON object as the last line.
 */

import { randomInt, randomUUID } from 'node:crypto';
import { withBenchRuntime } from './bench-runtime.js';
import { countDynamoDb } from './dynamodb-tally.js';

interface Options {
  sessions: number;
  calls: number;
  concurrency: number;
  json: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = { sessions: 10_000, calls: 3, concurrency: 32, json: false };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    const value = () => Number(inline ?? args[++i]);
    if (flag === '--sessions') options.sessions = value();
    else if (flag === '--calls') options.calls = value();
    else if (flag === '--concurrency') options.concurrency = value();
    else if (flag === '--json') options.json = true;
  }
  if (!Number.isInteger(options.sessions) || options.sessions < 1)
    throw new Error('--sessions must be ≥ 1');
  if (!Number.isInteger(options.calls) || options.calls < 1) throw new Error('--calls must be ≥ 1');
  return options;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export default async function ociBench(args: string[]): Promise<void> {
  const options = parseArgs(args);
  await withBenchRuntime(async (runtime) => {
    const { dynamodbClient, ddb } = await import('../../functions/kernel/clients.js');
    const { advanceSystemClock, systemClock } = await import('../../functions/kernel/clock.js');
    const { tableName } = await import('../../functions/kernel/config.js');
    const { PutCommand, QueryCommand } = await import('@aws-sdk/lib-dynamodb');
    const { sealCall } = await import('../../functions/oci/calls.js');
    const { DynamoOciStore } = await import('../../functions/oci/oci-store.js');
    const { uploadPending } = await import('../../functions/oci/api-upload.js');
    const { recoverStaleRows } = await import('../../functions/oci/stale-recovery.js');
    const { uploadDeps } = await import('../../functions/oci/deps.js');
    const { googleTime } = await import('../../functions/oci/model.js');

    const table = tableName('conversions');
    const store = new DynamoOciStore(ddb, table);
    const counter = countDynamoDb(dynamodbClient, 'benchCountDynamoDb');

    const sim = runtime.urls.sim;
    const ledger = async () =>
      (await (await fetch(`${sim}/_sim/google-ads/conversions`)).json()) as {
        counted: Array<{ customerId: string }>;
        requests: { total: number };
      };
    const setFaults = (googleAds: unknown) =>
      fetch(`${sim}/_sim/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ googleAds }),
      });

    const customers = {
      onceflow: String(randomInt(1e9, 1e10 - 1)),
      baseline: String(randomInt(1e9, 1e10 - 1)),
    };
    const action = (customerId: string) => `customers/${customerId}/conversionActions/1`;
    // Seven hours ago: a conversion is due no earlier than its click + 6 hours.
    const started = Date.now() - 7 * 3600_000;
    const sessions = Array.from({ length: options.sessions }, (_, s) => ({
      sessionId: `s${s}-${randomUUID().slice(0, 6)}`,
      gclid: `Cj0K${randomUUID().replaceAll('-', '')}`,
    }));
    // Each call is sealed with its own time (as operators approve calls at different moments).
    const callTime = (c: number) => new Date(started + 60_000 * (c + 1)).toISOString();

    // --- onceflow: calls recorded, then every call of a session sealed at once ----------------
    const tenantId = `bench-oci-${randomUUID().slice(0, 6)}`;
    const ctx = {
      store,
      clock: systemClock,
      googleAds: async () => ({
        customerId: customers.onceflow,
        conversionAction: action(customers.onceflow),
        uploadMode: 'api' as const,
      }),
    };
    async function pool<T>(items: readonly T[], fn: (item: T) => Promise<void>) {
      let next = 0;
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (next < items.length) {
            const item = items[next++] as T;
            await fn(item);
          }
        }),
      );
    }
    await pool(sessions, async (s) => {
      await Promise.all(
        Array.from({ length: options.calls }, (_, c) =>
          store.createCall({
            tenantId,
            callId: `${s.sessionId}-${c}`,
            sessionId: s.sessionId,
            clickKind: 'gclid',
            clickId: s.gclid,
            source: 'click',
            occurredAt: new Date(started).toISOString(),
            createdAt: new Date(started).toISOString(),
          }),
        ),
      );
    });

    async function sealPhase(seal: (s: (typeof sessions)[number], c: number) => Promise<void>) {
      const latencies: number[] = [];
      counter.start();
      const t0 = performance.now();
      await pool(sessions, async (s) => {
        await Promise.all(
          Array.from({ length: options.calls }, async (_, c) => {
            const t = performance.now();
            await seal(s, c);
            latencies.push(performance.now() - t);
          }),
        );
      });
      const seconds = (performance.now() - t0) / 1000;
      const tally = counter.stop();
      latencies.sort((a, b) => a - b);
      const seals = sessions.length * options.calls;
      return {
        seals,
        sealsPerSecond: round(seals / seconds, 1),
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        ddbRequestsPerSeal: round(tally.requests / seals),
        wcuPerSeal: round((tally.wcu + tally.estimatedWcu) / seals),
      };
    }

    const onceflowSeal = await sealPhase(async (s, c) => {
      await sealCall(ctx, tenantId, `${s.sessionId}-${c}`, {
        value: 10,
        currency: 'USD',
        conversionTime: callTime(c),
      });
    });

    // --- baseline: the seed's seal ------------------------------------------------------------
    const baseTenant = `bench-base-${randomUUID().slice(0, 6)}`;
    const baselineRows: Array<{ gclid: string; time: string; done: boolean }> = [];
    const baselineSeal = await sealPhase(async (s, c) => {
      const pk = `BASE#${baseTenant}#SESSION#${s.sessionId}`;
      // Check: does the session already have a queued row? (read, then write: the race window)
      const existing = await ddb.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
          Limit: 1,
        }),
      );
      if ((existing.Items ?? []).length > 0) return;
      // Insert: one queue row per call (unique per call, not per session), no orderId.
      await ddb.send(
        new PutCommand({
          TableName: table,
          Item: {
            pk,
            sk: `CALL#${c}`,
            gclid: s.gclid,
            conversionTime: callTime(c),
            status: 'queued',
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      baselineRows.push({ gclid: s.gclid, time: callTime(c), done: false });
    });

    // --- uploads with faults ------------------------------------------------------------------
    await setFaults({ errorRate: 0.05, lostResponseRate: 0.1 });
    const deps = uploadDeps();
    const before = (await ledger()).requests.total;
    const t0 = performance.now();
    let rounds = 0;
    for (; rounds < 60; rounds++) {
      const report = await uploadPending({ ...deps, maxRowsPerRun: 20_000 });
      await recoverStaleRows({ store, clock: systemClock });
      if (report.claimed === 0 && rounds > 0) break;
      advanceSystemClock(3601_000);
    }
    const onceflowUploadSeconds = (performance.now() - t0) / 1000;
    const afterOnceflow = (await ledger()).requests.total;

    // The seed's uploader: every pending row again after an unknown answer, no orderId.
    for (let r = 0; r < 60 && baselineRows.some((row) => !row.done); r++) {
      const pending = baselineRows.filter((row) => !row.done);
      for (let i = 0; i < pending.length; i += 2000) {
        const batch = pending.slice(i, i + 2000);
        const answer = await deps.google.upload(
          'uploadClickConversions',
          customers.baseline,
          batch.map((row) => ({
            gclid: row.gclid,
            conversionAction: action(customers.baseline),
            conversionDateTime: googleTime(row.time),
            conversionValue: 10,
            currencyCode: 'USD',
          })),
          30_000,
        );
        if (answer.kind === 'answered') for (const row of batch) row.done = true;
      }
    }
    const afterBaseline = (await ledger()).requests.total;
    await setFaults({});
    const counted = (await ledger()).counted;
    const countedFor = (customerId: string) =>
      counted.filter((c) => c.customerId === customerId).length;
    const onceflowCounted = countedFor(customers.onceflow);
    const baselineCounted = countedFor(customers.baseline);

    const result = {
      sessions: options.sessions,
      callsPerSession: options.calls,
      concurrency: options.concurrency,
      faults: { errorRate: 0.05, lostResponseRate: 0.1 },
      onceflow: {
        ...onceflowSeal,
        rowsQueued: options.sessions,
        counted: onceflowCounted,
        googleRequests: afterOnceflow - before,
        googleRequestsPerConversion: round(
          (afterOnceflow - before) / Math.max(1, onceflowCounted),
          4,
        ),
        uploadRounds: rounds,
        uploadSeconds: round(onceflowUploadSeconds, 1),
      },
      baseline: {
        ...baselineSeal,
        rowsQueued: baselineRows.length,
        counted: baselineCounted,
        googleRequests: afterBaseline - afterOnceflow,
        googleRequestsPerConversion: round(
          (afterBaseline - afterOnceflow) / Math.max(1, baselineCounted),
          4,
        ),
      },
    };
    const line = (name: string, r: typeof result.onceflow | typeof result.baseline) =>
      `${name.padEnd(9)} counted ${String(r.counted).padStart(6)}  rows ${String(r.rowsQueued).padStart(6)}  ` +
      `seals/s ${String(r.sealsPerSecond).padStart(7)}  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  ` +
      `DynamoDB req/seal ${r.ddbRequestsPerSeal}  WCU/seal ${r.wcuPerSeal}  ` +
      `Google req/conversion ${r.googleRequestsPerConversion}`;
    console.log(
      `oci bench: ${options.sessions} sessions × ${options.calls} calls sealed at once (${options.concurrency} sessions in flight), API upload with 5% errors and 10% lost answers`,
    );
    console.log(line('onceflow', result.onceflow));
    console.log(line('baseline', result.baseline));
    console.log(`goal: onceflow counted = ${options.sessions}`);
    if (options.json) console.log(JSON.stringify(result));
  });
}
