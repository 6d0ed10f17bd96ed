/**
 * The local dashboard: `GET /_local/dashboard` (a page refreshing itself every second) and
 * `GET /_local/dashboard/data` (its JSON), on the API port. The same rows as the deployed
 * CloudWatch dashboard, from the same catalogue (`lib/metrics-catalogue.ts`), fed by the runtime,
 * drawn for a person to read at a glance: each metric a plot of its rate over the last ten minutes
 * (inline SVG, nothing fetched: the page works offline), a plain-language label with the metric's
 * name beside it, alarmed metrics flagged (with a legend), and the runtime's own clock (the clock
 * seam, which `/_local/clock/advance` moves) in the header, since every time on the page is on it.
 *
 * - metrics: the handlers' EMF lines (Powertools Metrics prints them to stdout), read as they are
 *   written, counted per metric and per `source` dimension, and in 10-second buckets of the runtime
 *   clock (`SERIES`) for the plots;
 * - recent dedupe decisions: the handlers' `duplicate suppressed` log lines, with their keys;
 * - queue and DLQ depths from the SQS emulator;
 * - campaign progress from the campaigns table: totals, sends/s over the last samples against the
 *   tenant's configured `messagesPerSecond`.
 *
 * Also `GET /openapi.json`: the OpenAPI document generated from the handlers' schemas.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoCampaignStore } from '../../functions/campaigns/index.js';
import { systemClock, systemClockOffset } from '../../functions/kernel/clock.js';
import { DynamoDbTenantStore } from '../../functions/tenants/index.js';
import { GUARANTEES, type Guarantee, METRICS } from '../metrics-catalogue.js';
import { openApiDocument } from '../openapi.js';
import type { ExtraRoutes } from './http-adapter.js';
import { sendJson } from './http-util.js';

export interface MetricTotal {
  total: number;
  bySource: Record<string, number>;
}

export interface DedupeDecision {
  readonly at: string;
  readonly source: string;
  readonly key: string;
  readonly tenant?: string;
}

/** The plots' time axis: 60 buckets of 10 s, the last ten minutes of the runtime clock. */
export const SERIES = { bucketSeconds: 10, buckets: 60 } as const;

/** One metric's counts per bucket, oldest first, the last bucket holding `end`. */
export interface MetricSeries {
  /** Runtime-clock ms at the end of the last bucket. */
  readonly end: number;
  readonly counts: number[];
}

export interface HandlerOutputTap {
  metrics(): Record<string, MetricTotal>;
  /** Every metric seen, bucketed on the runtime clock (`SERIES`). */
  series(): Record<string, MetricSeries>;
  decisions(): DedupeDecision[];
  /** Metric names seen that the catalogue does not declare (shown, so nothing hides). */
  undeclared(): string[];
  stop(): void;
}

const MAX_DECISIONS = 50;

/**
 * Reads every line written to stdout (where Powertools prints EMF and log lines; `npm start` sends
 * them on to the log file) without changing what is written.
 */
export function tapHandlerOutput(
  stream: NodeJS.WriteStream = process.stdout,
  now: () => number = systemClock.now,
): HandlerOutputTap {
  const totals: Record<string, MetricTotal> = {};
  const bucketMs = SERIES.bucketSeconds * 1000;
  /** Per metric, count per bucket index (runtime-clock ms / bucketMs). */
  const buckets = new Map<string, Map<number, number>>();
  const count = (name: string, value: number) => {
    const index = Math.floor(now() / bucketMs);
    const byBucket = buckets.get(name) ?? new Map<number, number>();
    buckets.set(name, byBucket);
    byBucket.set(index, (byBucket.get(index) ?? 0) + value);
    for (const old of byBucket.keys()) if (old <= index - SERIES.buckets) byBucket.delete(old);
  };
  const decisions: DedupeDecision[] = [];
  const declared = new Set(METRICS.map((m) => m.name));
  const undeclared = new Set<string>();
  let pending = '';
  const original = stream.write;

  const take = (line: string) => {
    if (!line.startsWith('{')) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const aws = parsed._aws as { CloudWatchMetrics?: Array<{ Metrics?: Array<{ Name: string }> }> };
    if (aws?.CloudWatchMetrics) {
      const source = typeof parsed.source === 'string' ? parsed.source : 'unknown';
      for (const directive of aws.CloudWatchMetrics) {
        for (const { Name } of directive.Metrics ?? []) {
          const raw = parsed[Name];
          const value = Array.isArray(raw)
            ? raw.reduce((a: number, b) => a + Number(b), 0)
            : Number(raw ?? 0);
          if (!Number.isFinite(value)) continue;
          const entry = totals[Name] ?? { total: 0, bySource: {} };
          totals[Name] = entry;
          entry.total += value;
          entry.bySource[source] = (entry.bySource[source] ?? 0) + value;
          count(Name, value);
          if (!declared.has(Name)) undeclared.add(Name);
        }
      }
      return;
    }
    if (parsed.message === 'duplicate suppressed' && typeof parsed.dedupeKey === 'string') {
      decisions.unshift({
        // On the runtime clock, as every other time on the page.
        at: new Date(now()).toISOString(),
        source: typeof parsed.source === 'string' ? parsed.source : 'unknown',
        key: parsed.dedupeKey,
        ...(typeof parsed.tenant === 'string' ? { tenant: parsed.tenant } : {}),
      });
      decisions.length = Math.min(decisions.length, MAX_DECISIONS);
    }
  };

  const tapped = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
    try {
      const text =
        typeof chunk === 'string'
          ? chunk
          : chunk instanceof Uint8Array
            ? Buffer.from(chunk).toString('utf8')
            : '';
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        take(pending.slice(0, newline).trim());
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      // A runaway line without a newline must not grow without bound.
      if (pending.length > 1_000_000) pending = '';
    } catch {
      // Reading a line must never break the write.
    }
    // biome-ignore lint/suspicious/noExplicitAny: forwards whatever write overload was called
    return (current as any).apply(stream, [chunk, ...rest]);
  } as typeof stream.write;
  // Whatever write is installed now (npm start's log-file capture) keeps receiving every line.
  const current = stream.write;
  stream.write = tapped;

  return {
    metrics: () => structuredClone(totals),
    series() {
      const last = Math.floor(now() / bucketMs);
      return Object.fromEntries(
        [...buckets].map(([name, byBucket]) => [
          name,
          {
            end: (last + 1) * bucketMs,
            counts: Array.from(
              { length: SERIES.buckets },
              (_, i) => byBucket.get(last - SERIES.buckets + 1 + i) ?? 0,
            ),
          },
        ]),
      );
    },
    decisions: () => [...decisions],
    undeclared: () => [...undeclared],
    stop() {
      if (stream.write === tapped) stream.write = current ?? original;
    },
  };
}

export interface CampaignProgress {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly name: string;
  readonly status: string;
  readonly totals: Record<string, number>;
  /** sent + delivered + read + failed + skipped, over recipients. */
  readonly done: number;
  readonly percent: number;
  /** Accepted by the provider per second, over the last samples. */
  readonly sendsPerSecond: number;
  readonly configuredRate: number;
}

/**
 * What each metric counts, in words a person reads at a glance (the metric's name is shown beside
 * it, for the runbook and CloudWatch). `test/unit/dashboard-labels.test.ts` keeps one per metric.
 */
export const METRIC_LABELS: Readonly<Record<string, string>> = {
  WebhookItemStored: 'Webhook messages stored',
  WebhookItemDeduped: 'of which redelivered webhooks',
  DuplicateSuppressed: 'Repeats that wrote nothing',
  CampaignStatusWamidMismatch: 'Statuses naming another send',
  OciDuplicateSeal: 'Seals of an already sealed session',
  DuplicateEvidenceSuppressed: 'Conversion events posted again',
  IdempotencyKeyReplayed: 'Idempotency-Key retries replayed',
  IdempotencyKeyInProgress: 'Idempotency-Key retries while running',
  IdempotencyKeyMismatch: 'Idempotency-Key reused with another body',
  JobsRecovered: 'Jobs re-run by recovery',
  ChangeFeedLagSeconds: 'Change feed behind its effects (s)',
  EventDelivered: 'Events delivered',
  EventAttemptFailed: 'Event attempts that failed',
  EventDeliveryFailed: 'Events failed after every attempt',
  EventEndpointDisabled: 'Event endpoints disabled',
  EventTargetRefused: 'Event targets refused (SSRF)',
  EventDeliveryAgeMs: 'Event age at its outcome (ms)',
  CampaignUnknownOutcomeRetried: 'Unknown sends retried once',
  OciStaleRecovered: 'Google Ads rows recovered from a stale claim',
  PoisonMessage: 'Queue messages sent to a dead-letter queue',
  ReplyCreated: 'Replies queued',
  ReplySent: 'Replies accepted by their provider',
  ReplyFailed: 'Replies refused for good',
  ReplySendThrottled: 'Replies refused for throughput, sent again',
  ReplySendOutcomeUnknown: 'Reply answers lost (maybe sent)',
  ReplyUnknownOutcomeHeld: 'Replies held unknown after the window',
  ReplyUnknownOutcomeRetried: 'Unknown replies retried once',
  ReplyOperatorRetried: 'Replies retried by an operator',
  ReplyStatusApplied: 'Reply statuses applied',
  ReplyEchoMatched: 'Provider echoes of replies matched',
  ReplyEchoAdopted: 'Echoes filed first, adopted by their reply',
  ReplyProviderIdConflict: 'Replies holding two provider ids',
  CampaignMessageSent: 'Campaign messages accepted',
  CampaignMessageFailed: 'Campaign messages failed',
  CampaignSendOutcomeUnknown: 'Sends with a lost answer',
  CampaignOutcomeReconciled: 'Lost answers settled by evidence',
  CampaignUnknownOutcomeHeld: 'Sends held as unknown',
  CampaignLateEvidenceApplied: 'Late statuses applied',
  CampaignWamidKeptAlone: 'Statuses kept without their send',
  CampaignWamidLost: 'Message ids lost after acceptance',
  CampaignRecoveryFailed: 'Campaign recovery runs failed',
  UnreadableSweepEntry: 'Sweep entries unreadable (skipped)',
  CounterReconcileFailed: 'Counter recounts failed',
  CampaignWamidConflict: 'Two message ids for one contact',
  CounterDrift: 'Counters off their recount',
  CounterFoldLagSeconds: 'Counter fold behind its transitions (s)',
  ConversionsLogged: 'Conversions logged',
  ConversionsReconciled: 'Conversions only reconciliation found',
  OciSealed: 'Sessions sealed into a conversion',
  OciRowsClaimed: 'Google Ads rows claimed for upload',
  OciRowsCompleted: 'Google Ads rows counted',
  OciRowsRetry: 'Google Ads rows to retry',
  OciRowsFailed: 'Google Ads rows failed',
  OciRowsUnconfirmed: 'Google Ads rows handed over, result unknown',
  OciWithdrawn: 'Conversions withdrawn before upload',
  OciRetractionRequested: 'Retractions requested',
  GoogleAdsUploadAccepted: 'Google Ads uploads accepted',
  GoogleAdsUploadUnknown: 'Google Ads uploads with a lost answer',
  ProviderVersionRejected: 'Provider refused our API version',
  ProviderVersionSunsetSoon: 'Provider API version near its sunset',
  GoogleAdsUploadRejected: 'Google Ads uploads refused',
  CampaignSendThrottled: 'Sends refused by the provider rate',
  GoogleAdsQuotaExceeded: 'Google Ads quota refusals',
  WebhookItemUnroutable: 'Webhook items no tenant owns',
  WebhookItemInvalid: 'Webhook items naming nobody',
  WebhookRejected: 'Webhook requests refused',
  JobDone: 'Post-processing jobs done',
  JobFailed: 'Post-processing jobs failed',
  AiTokens: 'Model tokens used',
  ColdStart: 'Cold starts',
};

/**
 * Metrics that count a part of another one, shown under it and never added to it: every webhook
 * redelivery is one `WebhookItemDeduped` and also one `DuplicateSuppressed` (the store found the
 * message), so a reader adding the two would count each duplicate twice.
 */
export const PART_OF: Readonly<Record<string, string>> = {
  WebhookItemDeduped: 'DuplicateSuppressed',
};

export interface DashboardMetric extends MetricTotal {
  readonly name: string;
  readonly label: string;
  readonly meaning: string;
  readonly alarm: boolean;
  /** The metric this one is a part of (shown under it, never added to it). */
  readonly partOf?: string;
  /** Counts per bucket over the last ten minutes of the runtime clock (`SERIES`). */
  readonly series: number[];
  /** Its sum over those ten minutes. */
  readonly lastTenMinutes: number;
  /** Its count over the last minute: the current rate, per minute. */
  readonly perMinute: number;
}

export interface DashboardRow {
  readonly guarantee: Guarantee;
  readonly title: string;
  readonly metrics: DashboardMetric[];
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** The page's rows: every catalogue metric under its guarantee, zero when not yet seen. */
export function catalogueRows(
  metrics: Readonly<Record<string, MetricTotal>>,
  series: Readonly<Record<string, MetricSeries>> = {},
): DashboardRow[] {
  const perMinuteBuckets = 60 / SERIES.bucketSeconds;
  return (Object.entries(GUARANTEES) as Array<[Guarantee, string]>).map(([guarantee, title]) => ({
    guarantee,
    title,
    metrics: METRICS.filter((m) => m.guarantee === guarantee).map((m) => {
      const counts = series[m.name]?.counts ?? Array.from({ length: SERIES.buckets }, () => 0);
      return {
        name: m.name,
        label: METRIC_LABELS[m.name] ?? m.name,
        meaning: m.meaning,
        alarm: m.alarm !== undefined,
        ...(PART_OF[m.name] ? { partOf: PART_OF[m.name] } : {}),
        ...(metrics[m.name] ?? { total: 0, bySource: {} }),
        series: counts,
        lastTenMinutes: sum(counts),
        perMinute: sum(counts.slice(-perMinuteBuckets)),
      };
    }),
  }));
}

export interface DashboardData {
  readonly generatedAt: string;
  /** The runtime's clock (the clock seam every handler and schedule reads), and its lead. */
  readonly clock: { readonly now: string; readonly offsetSeconds: number };
  readonly series: typeof SERIES;
  readonly rows: DashboardRow[];
  readonly undeclaredMetrics: string[];
  readonly queues: unknown[];
  readonly campaigns: CampaignProgress[];
  readonly dedupeDecisions: DedupeDecision[];
}

export interface DashboardOptions {
  readonly tap: HandlerOutputTap;
  readonly queueStats: () => Promise<unknown[]>;
  readonly dynamodbEndpoint: string;
  /** Physical name of the campaigns table. */
  readonly campaignsTable: string;
  /** Physical name of the tenants table. */
  readonly tenantsTable: string;
}

export function createDashboard(options: DashboardOptions) {
  const ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: options.dynamodbEndpoint }),
  );
  const tenants = new DynamoDbTenantStore(ddb, options.tenantsTable, systemClock);
  const store = dynamoCampaignStore(ddb, options.campaignsTable);
  // Per campaign, recent (time, sent-so-far) samples: sends/s is their slope.
  const samples = new Map<string, Array<{ at: number; sent: number }>>();

  async function campaigns(): Promise<CampaignProgress[]> {
    const out: CampaignProgress[] = [];
    for await (const item of store.campaigns.scan()) {
      const { tenantId, campaignId } = item;
      const totals = await store.counters.totals(tenantId, campaignId);
      const accepted = totals.sent + totals.delivered + totals.read;
      const done = accepted + totals.failed + totals.skipped;
      const key = `${tenantId}/${campaignId}`;
      const now = Date.now();
      const history = (samples.get(key) ?? []).filter((s) => now - s.at <= 10_000);
      history.push({ at: now, sent: accepted });
      samples.set(key, history);
      const first = history[0];
      const elapsed = first ? (now - first.at) / 1000 : 0;
      const tenant = await tenants.get(tenantId).catch(() => undefined);
      out.push({
        tenantId,
        campaignId,
        name: item.name,
        status: item.status,
        totals,
        done,
        percent: totals.recipients > 0 ? Math.round((100 * done) / totals.recipients) : 0,
        sendsPerSecond:
          first && elapsed > 0 ? Math.round(((accepted - first.sent) / elapsed) * 10) / 10 : 0,
        configuredRate: Number(
          (tenant as { messagesPerSecond?: number } | undefined)?.messagesPerSecond ?? 80,
        ),
      });
    }
    return out.sort((a, b) => a.campaignId.localeCompare(b.campaignId));
  }

  async function data(): Promise<DashboardData> {
    const metrics = options.tap.metrics();
    return {
      generatedAt: new Date(systemClock.now()).toISOString(),
      clock: {
        now: new Date(systemClock.now()).toISOString(),
        offsetSeconds: Math.round(systemClockOffset() / 1000),
      },
      series: SERIES,
      rows: catalogueRows(metrics, options.tap.series()),
      undeclaredMetrics: options.tap.undeclared(),
      queues: await options.queueStats(),
      campaigns: await campaigns(),
      dedupeDecisions: options.tap.decisions(),
    };
  }

  const routes: ExtraRoutes = async (req, res, url) => {
    if (req.method !== 'GET') return false;
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/_local/dashboard') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(DASHBOARD_HTML);
      return true;
    }
    if (path === '/_local/dashboard/data') {
      sendJson(res, 200, await data());
      return true;
    }
    if (path === '/openapi.json') {
      sendJson(res, 200, openApiDocument());
      return true;
    }
    return false;
  };

  return { routes, data, close: () => ddb.destroy() };
}

/** Chains route handlers: the first that answers wins. */
export function chainRoutes(...handlers: ExtraRoutes[]): ExtraRoutes {
  return async (req, res, url) => {
    for (const handler of handlers) if (await handler(req, res, url)) return true;
    return false;
  };
}

const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>onceflow — local dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .clock { font-variant-numeric: tabular-nums; }
  header small { opacity: .75; }
  .legend { padding: 6px 20px; font-size: 12px; color: #3b4660; display: flex; gap: 18px; flex-wrap: wrap; align-items: center; }
  .legend svg { vertical-align: middle; }
  main { padding: 8px 20px 16px; display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 8px 12px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; margin: 0 0 6px; color: #3b4660; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 8px; }
  .card { border: 1px solid #eef0f4; border-radius: 4px; padding: 6px 8px; }
  .card.part { margin-left: 18px; border-style: dashed; }
  .card.alarm.moving { border-color: #b3261e; background: #fdf3f2; }
  .label { font-weight: 600; }
  .name { color: #6b7489; font: 11px ui-monospace, monospace; }
  .figures { display: flex; justify-content: space-between; font-size: 12px; color: #3b4660; font-variant-numeric: tabular-nums; }
  .figures b { font-size: 15px; color: #1d2330; }
  svg.plot { display: block; width: 100%; height: 54px; }
  svg.plot .axis { stroke: #c9ceda; stroke-width: 1; }
  svg.plot .line { fill: none; stroke: #2e6bd1; stroke-width: 1.5; }
  svg.plot .area { fill: #2e6bd1; fill-opacity: .12; stroke: none; }
  .alarm svg.plot .line { stroke: #b3261e; }
  .alarm svg.plot .area { fill: #b3261e; }
  svg.plot text { font: 9px system-ui, sans-serif; fill: #6b7489; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef0f4; vertical-align: top; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
  .zero { color: #9aa3b5; font-weight: 400; }
  .flag { color: #b3261e; }
  .src { color: #6b7489; font-size: 12px; }
  .bar { background: #e6e9ef; border-radius: 3px; height: 10px; width: 160px; display: inline-block; }
  .bar > span { background: #2e7d32; display: block; height: 10px; border-radius: 3px; }
  code { font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>onceflow — local dashboard</h1>
  <span>runtime clock <b class="clock" id="clock">…</b></span>
  <small id="offset"></small>
  <small id="updated">loading…</small>
</header>
<div class="legend">
  <span><svg width="36" height="12"><path d="M0,10 L9,6 L18,8 L27,2 L36,5" fill="none" stroke="#2e6bd1" stroke-width="1.5"/></svg>
    events per 10 s over the last 10 minutes of the runtime clock (right edge: now)</span>
  <span><b>n/min</b>: the last minute · <b>10 min</b>: the whole plot · <b>since start</b>: lifetime</span>
  <span><span class="flag">⚑</span> alarmed on AWS (an alarm fires when it moves: <span class="flag">red</span> while it moved in the plotted 10 minutes)</span>
  <span>dashed: a part of the metric above, not added to it</span>
</div>
<main>
  <section class="wide"><h2>Campaigns</h2><table id="campaigns"></table></section>
  <div id="rows" style="display: contents"></div>
  <section><h2>Queues and dead-letter queues</h2><table id="queues"></table></section>
  <section><h2>Recent dedupe decisions</h2><table id="decisions"></table></section>
</main>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
function num(n, alarm) {
  const cls = n === 0 ? 'n zero' : alarm ? 'n flag' : 'n';
  return '<td class="' + cls + '" data-value="' + n + '">' + n.toLocaleString('en') + '</td>';
}
/** An inline SVG plot of one series: counts per bucket, oldest left, now at the right edge. */
function plot(counts, minutes) {
  const w = 240, h = 54, top = 10, bottom = h - 12;
  const max = Math.max(1, ...counts);
  const x = (i) => (i * w / (counts.length - 1)).toFixed(1);
  const y = (v) => (bottom - (v / max) * (bottom - top)).toFixed(1);
  const line = counts.map((v, i) => (i === 0 ? 'M' : 'L') + x(i) + ',' + y(v)).join(' ');
  const area = line + ' L' + w + ',' + bottom + ' L0,' + bottom + ' Z';
  return '<svg class="plot" viewBox="0 0 ' + w + ' ' + h + '" preserveAspectRatio="none" data-max="' + Math.max(...counts) + '">' +
    '<line class="axis" x1="0" y1="' + bottom + '" x2="' + w + '" y2="' + bottom + '"/>' +
    '<path class="area" d="' + area + '"/><path class="line" d="' + line + '"/>' +
    '<text x="2" y="8">max ' + Math.max(...counts).toLocaleString('en') + ' / 10 s</text>' +
    '<text x="2" y="' + (h - 1) + '">−' + minutes + ' min</text><text x="' + (w - 22) + '" y="' + (h - 1) + '">now</text></svg>';
}
function card(m, minutes) {
  const moving = m.alarm && m.lastTenMinutes > 0;
  return '<div class="card' + (m.partOf ? ' part' : '') + (m.alarm ? ' alarm' : '') + (moving ? ' moving' : '') +
    '" data-metric="' + m.name + '" data-total="' + m.total + '" data-recent="' + m.lastTenMinutes + '"' +
    ' title="' + esc(m.meaning) + '">' +
    '<div class="label">' + esc(m.label) + (m.alarm ? ' <span class="flag" title="alarmed on AWS">⚑</span>' : '') + '</div>' +
    '<div class="name">' + m.name + (m.partOf ? ' · part of ' + m.partOf : '') + '</div>' +
    plot(m.series, minutes) +
    '<div class="figures"><span><b class="per-minute">' + m.perMinute.toLocaleString('en') + '</b>/min</span>' +
    '<span><b>' + m.lastTenMinutes.toLocaleString('en') + '</b> in 10 min</span>' +
    '<span class="src">since start ' + m.total.toLocaleString('en') + '</span></div>' +
    (Object.keys(m.bySource).length ? '<div class="src">' + Object.entries(m.bySource).map(([s, v]) => esc(s) + ': ' + v).join(' · ') + '</div>' : '') +
    '</div>';
}
function render(d) {
  const minutes = d.series.buckets * d.series.bucketSeconds / 60;
  document.getElementById('clock').textContent = d.clock.now.replace('T', ' ').slice(0, 19) + ' UTC';
  document.getElementById('offset').textContent = d.clock.offsetSeconds
    ? '(' + d.clock.offsetSeconds.toLocaleString('en') + ' s ahead of the wall clock: /_local/clock/advance)' : '(the wall clock)';
  document.getElementById('updated').textContent = 'updated every second';
  document.getElementById('rows').innerHTML = d.rows.map((row) =>
    '<section data-row="' + row.guarantee + '"><h2>' + esc(row.title) + '</h2><div class="cards">' +
    row.metrics.map((m) => card(m, minutes)).join('') + '</div></section>').join('') +
    (d.undeclaredMetrics.length ? '<section class="wide flag">Not in the catalogue: ' + d.undeclaredMetrics.map(esc).join(', ') + '</section>' : '');
  document.getElementById('campaigns').innerHTML =
    '<tr><th>campaign</th><th>status</th><th>progress</th><th>done / recipients</th><th>sent</th><th>failed</th><th>pending</th><th>sends/s (rate)</th></tr>' +
    (d.campaigns.length === 0 ? '<tr><td colspan="8" class="zero">no campaign yet</td></tr>' :
    d.campaigns.map((c) =>
      '<tr data-campaign="' + esc(c.campaignId) + '"><td>' + esc(c.name) + '<div class="src">' + esc(c.tenantId + ' / ' + c.campaignId) + '</div></td>' +
      '<td>' + esc(c.status) + '</td>' +
      '<td><span class="bar"><span style="width:' + c.percent + '%"></span></span> <span class="progress">' + c.percent + '%</span></td>' +
      '<td class="n done">' + c.done + ' / ' + c.totals.recipients + '</td>' +
      num(c.totals.sent + c.totals.delivered + c.totals.read) + num(c.totals.failed) + num(c.totals.pending + c.totals.sending) +
      '<td class="n">' + c.sendsPerSecond + ' <span class="src">(' + c.configuredRate + ')</span></td></tr>').join(''));
  document.getElementById('queues').innerHTML =
    '<tr><th>queue</th><th>visible</th><th>in flight</th><th>DLQ</th></tr>' +
    d.queues.map((q) => '<tr data-queue="' + esc(q.queue) + '"><td>' + esc(q.queue) + '</td>' + num(q.visible) + num(q.inFlight) + num(q.deadLetter.visible, true) + '</tr>').join('');
  document.getElementById('decisions').innerHTML =
    '<tr><th>when (runtime clock)</th><th>source</th><th>key</th></tr>' +
    (d.dedupeDecisions.length === 0 ? '<tr><td colspan="3" class="zero">none yet</td></tr>' :
    d.dedupeDecisions.slice(0, 12).map((x) => '<tr><td class="src">' + esc(x.at.slice(11, 19)) + '</td><td class="src">' + esc(x.source) + '</td><td><code>' + esc(x.key) + '</code></td></tr>').join(''));
}
async function tick() {
  try {
    const response = await fetch('/_local/dashboard/data');
    if (response.ok) render(await response.json());
  } catch (error) {
    document.getElementById('updated').textContent = 'runtime unreachable';
  }
  setTimeout(tick, 1000);
}
tick();
</script>
</body>
</html>
`;
