/**
 * The local dashboard: `GET /_local/dashboard` (a page refreshing itself every second) and
 * `GET /_local/dashboard/data` (its JSON), on the API port. The same rows as the deployed
 * CloudWatch dashboard, from the same catalogue (`lib/metrics-catalogue.ts`), fed by the runtime:
 *
 * - metrics: the handlers' EMF lines (Powertools Metrics prints them to stdout), read as they are
 *   written, summed per metric and per `source` dimension;
 * - recent dedupe decisions: the handlers' `duplicate suppressed` log lines, with their keys;
 * - queue and DLQ depths from the SQS emulator;
 * - campaign progress from the campaigns table: totals, sends/s over the last samples against the
 *   tenant's configured `messagesPerSecond`.
 *
 * Also `GET /openapi.json`: the OpenAPI document generated from the handlers' schemas.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { readTotals } from '../../functions/campaigns/counters.js';
import { systemClock } from '../../functions/kernel/clock.js';
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

export interface HandlerOutputTap {
  metrics(): Record<string, MetricTotal>;
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
export function tapHandlerOutput(stream: NodeJS.WriteStream = process.stdout): HandlerOutputTap {
  const totals: Record<string, MetricTotal> = {};
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
          if (!declared.has(Name)) undeclared.add(Name);
        }
      }
      return;
    }
    if (parsed.message === 'duplicate suppressed' && typeof parsed.dedupeKey === 'string') {
      decisions.unshift({
        at: typeof parsed.timestamp === 'string' ? parsed.timestamp : new Date().toISOString(),
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

export interface DashboardRow {
  readonly guarantee: Guarantee;
  readonly title: string;
  readonly metrics: Array<{ name: string; meaning: string; alarm: boolean } & MetricTotal>;
}

/** The page's rows: every catalogue metric under its guarantee, zero when not yet seen. */
export function catalogueRows(metrics: Readonly<Record<string, MetricTotal>>): DashboardRow[] {
  return (Object.entries(GUARANTEES) as Array<[Guarantee, string]>).map(([guarantee, title]) => ({
    guarantee,
    title,
    metrics: METRICS.filter((m) => m.guarantee === guarantee).map((m) => ({
      name: m.name,
      meaning: m.meaning,
      alarm: m.alarm !== undefined,
      ...(metrics[m.name] ?? { total: 0, bySource: {} }),
    })),
  }));
}

export interface DashboardData {
  readonly generatedAt: string;
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
  // Per campaign, recent (time, sent-so-far) samples: sends/s is their slope.
  const samples = new Map<string, Array<{ at: number; sent: number }>>();

  async function campaigns(): Promise<CampaignProgress[]> {
    const out: CampaignProgress[] = [];
    const pages = paginateScan(
      { client: ddb },
      {
        TableName: options.campaignsTable,
        FilterExpression: 'sk = :meta AND begins_with(pk, :prefix)',
        ExpressionAttributeValues: { ':meta': 'META', ':prefix': 'CAMPAIGN#' },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const tenantId = String(item.tenantId);
        const campaignId = String(item.campaignId);
        const totals = await readTotals(ddb, options.campaignsTable, tenantId, campaignId);
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
          name: String(item.name ?? ''),
          status: String(item.status ?? ''),
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
    }
    return out.sort((a, b) => a.campaignId.localeCompare(b.campaignId));
  }

  async function data(): Promise<DashboardData> {
    const metrics = options.tap.metrics();
    return {
      generatedAt: new Date().toISOString(),
      rows: catalogueRows(metrics),
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
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header small { opacity: .7; }
  main { padding: 12px 20px; display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 8px 12px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; margin: 0 0 6px; color: #3b4660; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef0f4; vertical-align: top; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
  .zero { color: #9aa3b5; font-weight: 400; }
  .alarm { color: #b3261e; }
  .src { color: #6b7489; font-size: 12px; }
  .bar { background: #e6e9ef; border-radius: 3px; height: 10px; width: 160px; display: inline-block; }
  .bar > span { background: #2e7d32; display: block; height: 10px; border-radius: 3px; }
  code { font-size: 12px; }
</style>
</head>
<body>
<header><h1>onceflow — local dashboard</h1><small id="updated">loading…</small></header>
<main>
  <section class="wide"><h2>Campaigns</h2><table id="campaigns"></table></section>
  <div id="rows" style="display: contents"></div>
  <section><h2>Queues and dead-letter queues</h2><table id="queues"></table></section>
  <section><h2>Recent dedupe decisions</h2><table id="decisions"></table></section>
</main>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
function num(n, alarm) {
  const cls = n === 0 ? 'n zero' : alarm ? 'n alarm' : 'n';
  return '<td class="' + cls + '" data-value="' + n + '">' + n.toLocaleString('en') + '</td>';
}
function render(d) {
  document.getElementById('updated').textContent = 'updated ' + d.generatedAt;
  document.getElementById('rows').innerHTML = d.rows.map((row) =>
    '<section data-row="' + row.guarantee + '"><h2>' + esc(row.title) + '</h2><table>' +
    row.metrics.map((m) =>
      '<tr data-metric="' + m.name + '"><td title="' + esc(m.meaning) + '">' + m.name +
      (m.alarm ? ' <span class="alarm" title="alarmed">⚑</span>' : '') +
      '<div class="src">' + Object.entries(m.bySource).map(([s, v]) => esc(s) + ': ' + v).join(' · ') + '</div></td>' +
      num(m.total, m.alarm) + '</tr>').join('') +
    '</table></section>').join('') +
    (d.undeclaredMetrics.length ? '<section class="wide alarm">Not in the catalogue: ' + d.undeclaredMetrics.map(esc).join(', ') + '</section>' : '');
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
    '<tr><th>when</th><th>source</th><th>key</th></tr>' +
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
