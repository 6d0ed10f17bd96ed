/**
 * `npm run bench -- campaign [--recipients N] [--rate R] [--concurrency C] [--json]`: a campaign of
 * N entries (default 20,028; a tenth of them, at most 100, written a second time in another format)
 * through the local runtime started in this process (API, queue consumers, schedules, simulators),
 * with the WhatsApp simulator at 1% errors, 0.5% lost answers and R accepted sends/s (default 80,
 * also the tenant's configured rate). Beside it, in the same run, on the same DynamoDB Local and
 * simulator, the baseline (`campaign-baseline.ts`: claim with one conditional update, record with
 * a second, statuses one update each, no counters, no transactions).
 *
 * Printed per side: duplicates (from the simulator's ledger), unfinished contacts, sends/s against
 * the configured rate, DynamoDB requests and write units per contact (an SDK middleware on each
 * side's client, from start to quiet: fan-out, token bucket, claim, record, counters, status
 * webhooks, recovery; set-up excluded). To tell the machine from the design: CPU used by DynamoDB
 * Local (its JVM's /proc stat) and by this process (the runtime: handlers, SQS emulator,
 * simulators), DynamoDB Local's ops/s measured alone (a short calibration of conditional updates),
 * and the drain rate that ops/s allows at each side's requests per contact.
 * `--json`: one JSON object as the last line.
 */

import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { withBenchRuntime } from './bench-runtime.js';
import { type CampaignBaseline, campaignBaseline } from './campaign-baseline.js';
import { countDynamoDb, countRuntimeDynamoDb, type DynamoDbTally } from './dynamodb-tally.js';
import { breakdownOf, breakdownOfRuntime } from './operation-breakdown.js';

interface Options {
  recipients: number;
  rate: number;
  concurrency: number;
  pollers: number;
  /** Contacts of the warm-up campaign drained before anything is measured (0: none). */
  warmup: number;
  json: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = {
    recipients: 20_028,
    rate: 80,
    concurrency: 16,
    pollers: 2,
    warmup: 10,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    const value = () => Number(inline ?? args[++i]);
    if (flag === '--recipients') options.recipients = value();
    else if (flag === '--rate') options.rate = value();
    else if (flag === '--concurrency') options.concurrency = value();
    else if (flag === '--pollers') options.pollers = value();
    else if (flag === '--warmup') options.warmup = value();
    else if (flag === '--json') options.json = true;
  }
  if (!Number.isInteger(options.recipients) || options.recipients < 10)
    throw new Error('--recipients must be an integer ≥ 10');
  if (!(options.rate > 0 && options.rate <= 1000)) throw new Error('--rate must be in (0, 1000]');
  if (!Number.isInteger(options.warmup) || options.warmup < 0)
    throw new Error('--warmup must be a whole number');
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new Error('--concurrency must be ≥ 1');
  return options;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const TICKS = 100; // USER_HZ: /proc/<pid>/stat times are in clock ticks

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** The pid of the DynamoDB Local JVM listening on `port`. */
function dynamoDbLocalPid(port: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = cmd.indexOf('-port');
      if (cmd.some((c) => c.includes('DynamoDBLocal')) && cmd[at + 1] === port) {
        return Number(entry);
      }
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** How far along a campaign's totals are: each contact's status rank, summed (a move forward adds 1). */
function progressOf(t: Record<string, number>): number {
  const rank: Record<string, number> = { sending: 1, sent: 2, delivered: 3, read: 4, failed: 2 };
  return (
    Object.entries(rank).reduce((sum, [status, r]) => sum + r * (t[status] ?? 0), 0) +
    2 * (t.unknown ?? 0)
  );
}

/**
 * Fold lag seen from outside: every 500 ms the committed totals (the recipients recounted, strongly
 * consistent queries of the 32 shards) and the folded ones are read; a sample's lag is how long ago
 * the committed totals first went past what the folded ones show now (0 when they agree).
 * Resolution: the 500 ms between samples, plus the reads themselves (the recount's queries go to
 * the bench's own client, not through the runtime's gateway: they are not in the tallies).
 */
function sampleFoldLag(
  read: () => Promise<{ committed: Record<string, number>; folded: Record<string, number> }>,
) {
  const samples: Array<{ at: number; committed: number; folded: number }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const { committed, folded } = await read();
      samples.push({ at, committed: progressOf(committed), folded: progressOf(folded) });
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const lags = samples.map((sample, i) => {
        if (sample.folded >= sample.committed) return 0;
        const first = samples.slice(0, i + 1).find((s) => s.committed > sample.folded);
        return (sample.at - (first?.at ?? sample.at)) / 1000;
      });
      const sorted = [...lags].sort((a, b) => a - b);
      const at = (q: number) =>
        sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return {
        samples: lags.length,
        p50: round(at(0.5), 2),
        p99: round(at(0.99), 2),
        max: round(sorted.at(-1) ?? 0, 2),
      };
    },
  };
}

interface CpuMeter {
  stop(): { runtimeSeconds: number; dynamodbSeconds: number; wallSeconds: number };
}

function meterCpu(dynamodbPid: number | undefined): CpuMeter {
  const started = performance.now();
  const runtime = process.cpuUsage();
  const ddb = dynamodbPid ? processCpuSeconds(dynamodbPid) : 0;
  return {
    stop() {
      const used = process.cpuUsage(runtime);
      return {
        runtimeSeconds: (used.user + used.system) / 1e6,
        dynamodbSeconds: dynamodbPid ? processCpuSeconds(dynamodbPid) - ddb : 0,
        wallSeconds: (performance.now() - started) / 1000,
      };
    },
  };
}

/** Sends/s between the 10th and the 90th percentile of accept times (no start-up, no tail). */
function steadyRate(acceptedAt: number[]): number {
  const sorted = [...acceptedAt].sort((a, b) => a - b);
  const from = sorted[Math.floor(sorted.length * 0.1)];
  const to = sorted[Math.floor(sorted.length * 0.9)];
  if (from === undefined || to === undefined || to <= from) return 0;
  return round(
    (Math.floor(sorted.length * 0.9) - Math.floor(sorted.length * 0.1)) / ((to - from) / 1000),
  );
}

/**
 * The whole drain split in three: start → first accepted send, the sends between (at the steady
 * rate), and the tail from the 99th percentile accepted send to the last (retries after a provider
 * error or an unknown outcome wait out their backoff there).
 */
function drainPhases(startedAt: number, acceptedAt: number[]) {
  const sorted = [...acceptedAt].sort((a, b) => a - b);
  const first = sorted[0] ?? startedAt;
  const last = sorted.at(-1) ?? startedAt;
  const p99 = sorted[Math.floor((sorted.length - 1) * 0.99)] ?? last;
  return {
    firstSendSeconds: round((first - startedAt) / 1000, 2),
    tailSeconds: round((last - p99) / 1000, 2),
    wholeSeconds: round((last - startedAt) / 1000, 2),
  };
}

interface SideFigures {
  contacts: number;
  duplicates: number;
  unfinished: number;
  sent: number;
  sendsPerSecond: number;
  drainSeconds: number;
  requests: number;
  wcu: number;
  estimatedWcu: number;
  requestsPerContact: number;
  wcuPerContact: number;
  dynamodbCpuPercent: number;
  runtimeCpuPercent: number;
  dynamodbOpsPerSecond: number;
  drainRateAllowed: number;
  statuses: Record<string, number>;
}

function figures(
  contacts: number,
  tally: DynamoDbTally,
  cpu: ReturnType<CpuMeter['stop']>,
  sent: number,
  sendSeconds: number,
  rest: { duplicates: number; unfinished: number; statuses: Record<string, number> },
): SideFigures {
  const requestsPerContact = tally.requests / contacts;
  return {
    contacts,
    ...rest,
    sent,
    sendsPerSecond: round(sent / sendSeconds),
    drainSeconds: round(cpu.wallSeconds, 1),
    requests: tally.requests,
    wcu: round(tally.wcu, 1),
    estimatedWcu: tally.estimatedWcu,
    requestsPerContact: round(requestsPerContact),
    wcuPerContact: round((tally.wcu + tally.estimatedWcu) / contacts),
    dynamodbCpuPercent: round((100 * cpu.dynamodbSeconds) / cpu.wallSeconds, 0),
    runtimeCpuPercent: round((100 * cpu.runtimeSeconds) / cpu.wallSeconds, 0),
    dynamodbOpsPerSecond: round(tally.requests / cpu.wallSeconds, 0),
    /** Set once DynamoDB Local's ops/s alone is measured. */
    drainRateAllowed: 0,
  };
}

export default async function campaignBench(args: string[]): Promise<void> {
  const options = parseArgs(args);
  const say = (line: string) => {
    if (!options.json) console.log(line);
  };
  const total = options.recipients;
  const formatDuplicates = Math.min(100, Math.floor(total / 10));
  const unique = total - formatDuplicates;
  const admin = 'bench-admin-key';
  process.env.ONCEFLOW_ADMIN_KEY = admin;
  await withBenchRuntime(
    async (runtime) => {
      const realFetch = globalThis.fetch;
      try {
        // Imported only now: SDK clients read the runtime's endpoints when they are created.
        const { advanceSystemClock } = await import('../../functions/kernel/clock.js');
        const { tableName } = await import('../../functions/kernel/config.js');
        const { platformSecret } = await import('../../functions/kernel/secrets.js');
        const { campaignKeys, dynamoCampaignStore } = await import(
          '../../functions/campaigns/index.js'
        );
        const { sumTotals } = await import('../../functions/campaigns/model.js');
        const { SHARDS } = await import('../../functions/campaigns/items.js');
        const { createWhatsAppClient, whatsappApiVersion } = await import(
          '../../functions/campaigns/whatsapp-client.js'
        );
        const driver = await import('../e2e/campaign-driver.js');
        const urls = { apiUrl: runtime.urls.api, simUrl: runtime.urls.sim };
        const table = tableName('campaigns');
        const dynamodbPid = dynamoDbLocalPid(new URL(runtime.urls.dynamodb).port);

        // The bench's own reads (progress polls) go through a client of their own, so they are not
        // charged to onceflow; the baseline has its own too.
        const benchClient = new DynamoDBClient({ endpoint: runtime.urls.dynamodb });
        const bench = DynamoDBDocumentClient.from(benchClient);
        const baselineClient = new DynamoDBClient({ endpoint: runtime.urls.dynamodb });
        const baselineDdb = DynamoDBDocumentClient.from(baselineClient, {
          marshallOptions: { removeUndefinedValues: true },
        });
        // onceflow's functions run in workers of their own: the runtime's gateway counts their calls.
        const onceflowCounter = countRuntimeDynamoDb(runtime);
        const baselineCounter = countDynamoDb(baselineClient, 'benchCountCampaignBaseline');
        const onceflowBreakdown = breakdownOfRuntime(runtime);
        const baselineBreakdown = breakdownOf(baselineClient, 'benchBreakdownCampaignBaseline');
        /** Quiet: statuses applied and the recovery schedule has marked the campaign completed. */
        const quiet = async (tenant: string, campaignId: string) => {
          await driver.waitForStatuses(urls, 300_000);
          for (let i = 0; i < 240; i++) {
            const out = await bench.send(
              new GetCommand({
                TableName: table,
                Key: campaignKeys.campaign(tenant, campaignId),
                ConsistentRead: true,
              }),
            );
            if (out.Item?.status === 'completed') return;
            await new Promise((r) => setTimeout(r, 500));
          }
        };

        // --- onceflow ----------------------------------------------------------------------------------
        const run = randomUUID().slice(0, 8);
        const tenantId = `bench-${run}`;
        const phoneNumberId = '700800900';
        const baselineNumber = '700800901';
        const apiKey = await driver.setupTenant(urls, admin, {
          tenantId,
          phoneNumberId,
          messagesPerSecond: options.rate,
        });
        const contacts = Array.from({ length: unique }, (_, i) => driver.phoneAt(i));
        const entries = [
          ...contacts,
          ...contacts.slice(0, formatDuplicates).map(driver.otherFormat),
        ];
        say(
          `campaign bench: ${total} entries (${formatDuplicates} format duplicates), rate ${options.rate}/s`,
        );
        const created = await driver.createCampaign(urls, apiKey, phoneNumberId, entries, run);

        // Warm-up, as the inbound bench does: a small campaign of another tenant and number, drained
        // and completed before anything is counted, so the measured drain starts with the functions
        // loaded (a deployment that sends campaigns has them warm; the cold start is the coldstart
        // bench's figure). Its own start → first send is reported as `warmup.firstSendSeconds`.
        let warmup: { contacts: number; firstSendSeconds: number } | undefined;
        if (options.warmup > 0) {
          const warmTenant = `${tenantId}-warm`;
          const warmNumber = '700800902';
          const warmKey = await driver.setupTenant(urls, admin, {
            tenantId: warmTenant,
            phoneNumberId: warmNumber,
            messagesPerSecond: options.rate,
          });
          const warmCampaign = await driver.createCampaign(
            urls,
            warmKey,
            warmNumber,
            Array.from({ length: options.warmup }, (_, i) => driver.phoneAt(500_000 + i)),
            `${run}-warm`,
          );
          const warmStarted = Date.now();
          await driver.retry(() =>
            driver.http(urls.apiUrl, 'POST', `/v1/campaigns/${warmCampaign.campaignId}/start`, {
              token: warmKey,
            }),
          );
          const warmStore = dynamoCampaignStore(bench, table);
          for (;;) {
            const t = await warmStore.counters.totals(warmTenant, warmCampaign.campaignId);
            if (t.recipients === warmCampaign.recipients && t.pending === 0 && t.sending === 0)
              break;
            if (Date.now() - warmStarted > 300_000) throw new Error('the warm-up did not drain');
            await new Promise((r) => setTimeout(r, 250));
          }
          await quiet(warmTenant, warmCampaign.campaignId);
          // Nothing of the warm-up left to count: its last statuses folded, its queues idle.
          await driver.totalsOnceFolded(
            urls,
            warmKey,
            warmCampaign.campaignId,
            await driver.listing(urls, warmKey, warmCampaign.campaignId),
            60_000,
          );
          for (let i = 0; i < 120 && !(await driver.queuesIdle(urls)); i++)
            await new Promise((r) => setTimeout(r, 250));
          const warmSends = (await driver.ledger(urls)).messages
            .filter((m) => m.bizOpaqueCallbackData?.includes(`|${warmCampaign.campaignId}|`))
            .map((m) => Date.parse((m as typeof m & { acceptedAt: string }).acceptedAt));
          if (warmSends.length === 0) throw new Error('the warm-up sent nothing');
          warmup = {
            contacts: warmCampaign.recipients,
            firstSendSeconds: round((Math.min(...warmSends) - warmStarted) / 1000, 2),
          };
          say(
            `warm-up: ${warmup.contacts} contacts drained; start → first send ${warmup.firstSendSeconds} s (functions cold)`,
          );
        }
        const faults = {
          whatsapp: {
            errorRate: 0.01,
            lostResponseRate: 0.005,
            rateLimitPerSecond: options.rate,
            statusDelayMs: 200,
          },
        };
        await driver.http(urls.simUrl, 'PUT', '/_sim/faults', { body: faults });

        const onceflowCpu = meterCpu(dynamodbPid);
        onceflowCounter.start();
        onceflowBreakdown.start();
        const startedAt = Date.now();
        const benchStore = dynamoCampaignStore(bench, table);
        const foldLag = sampleFoldLag(async () => {
          const [committed, folded] = await Promise.all([
            Promise.all(
              Array.from({ length: SHARDS }, (_, shard) =>
                benchStore.counters.recount(tenantId, created.campaignId, shard),
              ),
            ).then((recounts) => sumTotals(recounts.map((r) => r.totals))),
            benchStore.counters.totals(tenantId, created.campaignId),
          ]);
          return { committed, folded };
        });
        await driver.retry(() =>
          driver.http(urls.apiUrl, 'POST', `/v1/campaigns/${created.campaignId}/start`, {
            token: apiKey,
          }),
        );
        let clockJumps = 0;
        let last = '';
        let still = 0;
        for (;;) {
          const t = await dynamoCampaignStore(bench, table).counters.totals(
            tenantId,
            created.campaignId,
          );
          if (t.pending === 0 && t.sending === 0) break;
          const fingerprint = JSON.stringify(t);
          still = fingerprint === last ? still + 1 : 0;
          last = fingerprint;
          if (still >= 8) {
            // Only a window is left (an unknown outcome, a re-ring): jump past it, as ops would wait.
            const sim = await driver.ledger(urls);
            if (sim.pendingStatuses === 0 && (await driver.queuesIdle(urls))) {
              advanceSystemClock(660_000);
              clockJumps += 1;
              still = 0;
            }
          }
          if (Date.now() - startedAt > 3 * 3600_000) throw new Error(`not drained: ${fingerprint}`);
          await new Promise((r) => setTimeout(r, 500));
        }
        const drainedAt = Date.now();
        await quiet(tenantId, created.campaignId);
        const foldLagSeconds = await foldLag.stop();
        const onceflowTally = onceflowCounter.stop();
        const onceflowByOperation = onceflowBreakdown.stop(created.recipients);
        const onceflowUsage = onceflowCpu.stop();

        const sim = await driver.ledger(urls);
        const perContact = driver.sendsPerContact(sim.messages, created.campaignId);
        const onceflowDuplicates = [...perContact.values()].reduce(
          (s, n) => s + Math.max(0, n - 1),
          0,
        );
        const listed = await driver.listing(urls, apiKey, created.campaignId);
        const counted = driver.countListing(listed);
        // GET /v1/campaigns/{id} answers the folded totals: polled until the feed is folded.
        const finalTotals = await driver.totalsOnceFolded(
          urls,
          apiKey,
          created.campaignId,
          listed,
          20_000,
        );
        const totalsMatchListing = JSON.stringify(finalTotals) === JSON.stringify(counted);
        // The fold's totals once it caught up: polled (it trails the commits by its lag).
        let foldedMatchListing = false;
        for (let i = 0; i < 100 && !foldedMatchListing; i++) {
          const folded = sumTotals(await benchStore.folded.groups(tenantId, created.campaignId));
          foldedMatchListing = JSON.stringify(folded) === JSON.stringify(counted);
          if (!foldedMatchListing) await new Promise((r) => setTimeout(r, 200));
        }
        const final = new Set(['sent', 'delivered', 'read', 'failed']);
        const onceflowAccepted = sim.messages
          .filter((m) => m.bizOpaqueCallbackData?.includes(`|${created.campaignId}|`))
          .map((m) => m as typeof m & { acceptedAt: string });
        const lastAccepted = Math.max(...onceflowAccepted.map((m) => Date.parse(m.acceptedAt)));
        const onceflow = figures(
          created.recipients,
          onceflowTally,
          onceflowUsage,
          perContact.size,
          (Math.max(lastAccepted, startedAt + 1) - startedAt) / 1000,
          {
            duplicates: onceflowDuplicates,
            unfinished: listed.filter((r) => !final.has(r.status)).length,
            statuses: { ...finalTotals },
          },
        );

        // --- baseline ----------------------------------------------------------------------------------
        const whatsapp = createWhatsAppClient({
          baseUrl: runtime.urls.sim,
          version: whatsappApiVersion(),
          accessToken: () => platformSecret('whatsappAccessToken'),
        });
        const baseline: CampaignBaseline = campaignBaseline({
          ddb: baselineDdb,
          table,
          run,
          phoneNumberId: baselineNumber,
          whatsapp,
        });
        await baseline.load(contacts);
        // The simulator posts the baseline's status webhooks to the API; they are the baseline's to
        // apply, so they are handed to it here (one conditional update each) and answered 200.
        globalThis.fetch = async (input, init) => {
          const url =
            typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          if (url.endsWith('/webhooks/whatsapp') && typeof init?.body === 'string') {
            const body = JSON.parse(init.body) as {
              entry?: Array<{
                changes?: Array<{
                  value?: {
                    metadata?: { phone_number_id?: string };
                    statuses?: Array<{ status: string; biz_opaque_callback_data?: string }>;
                  };
                }>;
              }>;
            };
            const value = body.entry?.[0]?.changes?.[0]?.value;
            if (value?.metadata?.phone_number_id === baselineNumber) {
              for (const s of value.statuses ?? []) {
                await baseline.applyStatus({
                  callbackData: s.biz_opaque_callback_data ?? '',
                  status: s.status,
                });
              }
              return new Response('{}', { status: 200 });
            }
          }
          return realFetch(input, init);
        };
        await driver.http(urls.simUrl, 'PUT', '/_sim/faults', { body: faults });
        const baselineCpu = meterCpu(dynamodbPid);
        baselineCounter.start();
        baselineBreakdown.start();
        const baselineStarted = Date.now();
        await baseline.run(options.rate, options.concurrency);
        await driver.waitForStatuses(urls, 300_000);
        const baselineTally = baselineCounter.stop();
        const baselineByOperation = baselineBreakdown.stop(unique);
        const baselineUsage = baselineCpu.stop();
        const baselineSim = await driver.ledger(urls);
        const baselineSends = baselineSim.messages
          .filter((m) => m.bizOpaqueCallbackData?.startsWith(baseline.callbackPrefix))
          .map((m) => m as typeof m & { acceptedAt: string });
        const baselinePerContact = new Map<string, number>();
        for (const m of baselineSends)
          baselinePerContact.set(m.to, (baselinePerContact.get(m.to) ?? 0) + 1);
        const baselineCounts = await baseline.count();
        const baselineLast = Math.max(...baselineSends.map((m) => Date.parse(m.acceptedAt)));
        const baselineFigures = figures(
          unique,
          baselineTally,
          baselineUsage,
          baselinePerContact.size,
          (Math.max(baselineLast, baselineStarted + 1) - baselineStarted) / 1000,
          {
            duplicates: [...baselinePerContact.values()].reduce(
              (s, n) => s + Math.max(0, n - 1),
              0,
            ),
            unfinished: Object.entries(baselineCounts)
              .filter(([s]) => !final.has(s))
              .reduce((s, [, n]) => s + n, 0),
            statuses: baselineCounts,
          },
        );

        // --- DynamoDB Local alone (after both runs, JVM warm): conditional updates as fast as it takes them
        const calibrationCounter = countDynamoDb(benchClient, 'benchCountCalibration');
        calibrationCounter.start();
        const calibrationStarted = performance.now();
        let calibrationWrites = 0;
        await Promise.all(
          Array.from({ length: 16 }, async (_, w) => {
            while (performance.now() - calibrationStarted < 3000) {
              await bench.send(
                new UpdateCommand({
                  TableName: table,
                  Key: { pk: `BENCHCAL#${w}#${calibrationWrites % 64}`, sk: 'X' },
                  UpdateExpression: 'ADD n :one',
                  ConditionExpression: 'attribute_not_exists(n) OR n >= :zero',
                  ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
                }),
              );
              calibrationWrites += 1;
            }
          }),
        );
        const capacityOpsPerSecond =
          calibrationCounter.stop().requests / ((performance.now() - calibrationStarted) / 1000);
        say(
          `DynamoDB Local alone: ${capacityOpsPerSecond.toFixed(0)} conditional updates/s (16 in flight, 3 s)`,
        );

        const drainRates = {
          onceflow: round(capacityOpsPerSecond / onceflow.requestsPerContact, 0),
          baseline: round(capacityOpsPerSecond / baselineFigures.requestsPerContact, 0),
        };
        onceflow.drainRateAllowed = drainRates.onceflow;
        baselineFigures.drainRateAllowed = drainRates.baseline;
        const ratios = {
          wcuPerContact: round(onceflow.wcuPerContact / baselineFigures.wcuPerContact),
          requestsPerContact: round(
            onceflow.requestsPerContact / baselineFigures.requestsPerContact,
          ),
          sendsPerSecond: round(onceflow.sendsPerSecond / baselineFigures.sendsPerSecond),
        };
        const result = {
          recipients: total,
          contacts: created.recipients,
          duplicatesCollapsed: created.duplicatesCollapsed,
          configuredRate: options.rate,
          pollersPerQueue: options.pollers,
          loadAverage: loadavg().map((n) => round(n)),
          cores: cpus().length,
          steadySendsPerSecond: steadyRate(onceflowAccepted.map((m) => Date.parse(m.acceptedAt))),
          baselineSteadySendsPerSecond: steadyRate(
            baselineSends.map((m) => Date.parse(m.acceptedAt)),
          ),
          duplicates: onceflow.duplicates,
          unfinished: onceflow.unfinished,
          /** Refusals by the provider (130429: over its rate), during onceflow's run and the baseline's. */
          providerRefusals: {
            onceflow: sim.refused ?? {},
            // The simulator counts since it started: the baseline's are what came after onceflow's.
            baseline: Object.fromEntries(
              Object.entries(baselineSim.refused ?? {}).map(([code, n]) => [
                code,
                n - (sim.refused?.[code] ?? 0),
              ]),
            ),
          },
          totalsMatchListing,
          foldedMatchListing,
          foldLagSeconds,
          sendsPerSecond: onceflow.sendsPerSecond,
          shareOfConfiguredRate: round(onceflow.sendsPerSecond / options.rate),
          /** Where the whole drain's time went: start → first send, and the last sends' tail. */
          phases: drainPhases(
            startedAt,
            onceflowAccepted.map((m) => Date.parse(m.acceptedAt)),
          ),
          baselinePhases: drainPhases(
            baselineStarted,
            baselineSends.map((m) => Date.parse(m.acceptedAt)),
          ),
          clockJumps,
          ...(warmup ? { warmup } : {}),
          drainSeconds: round((drainedAt - startedAt) / 1000, 1),
          dynamodbLocalOpsPerSecondAlone: round(capacityOpsPerSecond, 0),
          onceflow: { ...onceflow, byOperation: onceflowByOperation },
          baseline: { ...baselineFigures, byOperation: baselineByOperation },
          ratios,
        };

        const row = (label: string, a: unknown, b: unknown) =>
          say(`${label.padEnd(34)}${String(a).padStart(14)}${String(b).padStart(14)}`);
        say('');
        say(
          `totals vs listing (onceflow)      ${totalsMatchListing ? 'equal' : 'DIFFERENT'} ${JSON.stringify(finalTotals)}`,
        );
        say(
          `folded totals vs listing          ${foldedMatchListing ? 'equal' : 'DIFFERENT'}; fold lag p50 ${foldLagSeconds.p50} s, p99 ${foldLagSeconds.p99} s, max ${foldLagSeconds.max} s (${foldLagSeconds.samples} samples)`,
        );
        say(`clock jumps                       ${clockJumps}`);
        say(`provider refusals                 ${JSON.stringify(result.providerRefusals)}`);
        say(
          `load average (1, 5, 15 min)       ${result.loadAverage.join(', ')} on ${cpus().length} cores`,
        );
        say(
          `steady sends/s (p10→p90)          onceflow ${result.steadySendsPerSecond}, baseline ${result.baselineSteadySendsPerSecond}; ${options.pollers} pollers per queue`,
        );
        row('', 'onceflow', 'baseline');
        row('contacts', onceflow.contacts, baselineFigures.contacts);
        row('duplicates (simulator ledger)', onceflow.duplicates, baselineFigures.duplicates);
        row('unfinished contacts', onceflow.unfinished, baselineFigures.unfinished);
        row('contacts sent', onceflow.sent, baselineFigures.sent);
        row(
          `sends/s (configured ${options.rate})`,
          onceflow.sendsPerSecond,
          baselineFigures.sendsPerSecond,
        );
        row('drain + statuses (s)', onceflow.drainSeconds, baselineFigures.drainSeconds);
        row(
          'DynamoDB requests / contact',
          onceflow.requestsPerContact,
          baselineFigures.requestsPerContact,
        );
        row('DynamoDB WCU / contact', onceflow.wcuPerContact, baselineFigures.wcuPerContact);
        row(
          '  of which estimated (refused)',
          round(onceflow.estimatedWcu / onceflow.contacts),
          round(baselineFigures.estimatedWcu / baselineFigures.contacts),
        );
        row(
          'DynamoDB Local CPU (% of a core)',
          onceflow.dynamodbCpuPercent,
          baselineFigures.dynamodbCpuPercent,
        );
        row(
          'runtime CPU (% of a core)',
          onceflow.runtimeCpuPercent,
          baselineFigures.runtimeCpuPercent,
        );
        row(
          'DynamoDB ops/s during the run',
          onceflow.dynamodbOpsPerSecond,
          baselineFigures.dynamodbOpsPerSecond,
        );
        row(
          'drain rate those ops allow (/s)',
          onceflow.drainRateAllowed,
          baselineFigures.drainRateAllowed,
        );
        say('per contact, by operation (requests / WCU):');
        for (const [side, table] of [
          ['onceflow', onceflowByOperation],
          ['baseline', baselineByOperation],
        ] as const) {
          for (const [label, e] of Object.entries(table))
            say(
              `  ${side.padEnd(9)}${label.padEnd(48)}${String(e.requests).padStart(8)}${String(e.wcu).padStart(8)}`,
            );
        }
        say(
          `ratios onceflow/baseline: WCU ${ratios.wcuPerContact}×, requests ${ratios.requestsPerContact}×, sends/s ${ratios.sendsPerSecond}×; onceflow at ${Math.round(100 * result.shareOfConfiguredRate)}% of the configured rate`,
        );
        say(
          `drain: start → first send ${result.phases.firstSendSeconds} s (baseline ${result.baselinePhases.firstSendSeconds} s), last 1% of sends ${result.phases.tailSeconds} s (baseline ${result.baselinePhases.tailSeconds} s), whole ${result.phases.wholeSeconds} s (baseline ${result.baselinePhases.wholeSeconds} s)`,
        );
        if (options.json) console.log(JSON.stringify(result));
      } finally {
        globalThis.fetch = realFetch;
      }
    },
    {
      schedules: true,
      scheduleSpeed: 30,
      // Concurrent batches per queue: the local stand-in for Lambda's scaling (on AWS the sends
      // consumer may run up to 100 batches at once, see lib/operational-limits.ts).
      pollersPerQueue: options.pollers,
    },
  );
}
