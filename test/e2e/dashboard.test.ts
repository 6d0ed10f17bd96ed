/**
 * The local dashboard page in a real headless browser (Debian's chromium driven by
 * playwright-core): the page is opened before anything happens and never reloaded; after a
 * duplicate webhook storm it shows exactly the duplicates the webhook answers reported as deduped
 * (once: the webhook's own count is shown as a part of it, never added), drawn as plots of the last
 * ten minutes that have data in them, with plain-language labels and the metric names beside; after
 * a small campaign it shows the campaign's progress; its header shows the runtime's clock, moved by
 * `/_local/clock/advance`. A screenshot is kept under `test-artifacts/` (gitignored).
 * `/openapi.json` is served beside it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHubBody } from '../../functions/kernel/webhook-signature.js';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { cloudText } from '../support/inbound-payloads.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';
import { pollUntil } from '../support/poll.js';
import {
  createCampaign,
  driveToCompletion,
  http,
  phoneAt,
  setupTenant,
} from './campaign-driver.js';

const ADMIN = 'e2e-admin-key';
const APP_SECRET = 'e2e-app-secret';
const PHONE_NUMBER_ID = '500600700';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts');

let runtime: SpawnedRuntime;
let browser: BrowserContext;
let page: Page;
let profileDir: string;
let apiKey: string;

const cloudMessage = (wamid: string, from: string) =>
  cloudText({ phoneNumberId: PHONE_NUMBER_ID }, { wamid, from, name: 'Dana', body: 'hello' });

async function deliver(raw: string): Promise<{ received: number; deduped: number }> {
  const response = await fetch(`${runtime.apiUrl}/webhooks/whatsapp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signHubBody(raw, APP_SECRET),
    },
    body: raw,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { received: number; deduped: number };
}

/** The lifetime count the page shows for a metric (read from the DOM the page rendered itself). */
async function shownTotal(metric: string): Promise<number> {
  const card = page.locator(`[data-metric="${metric}"]`);
  if ((await card.count()) === 0) return -1;
  return Number(await card.first().getAttribute('data-total'));
}

/** The plot of a metric: the highest bucket it draws and the y values of its line. */
async function shownPlot(metric: string): Promise<{ max: number; ys: number[]; baseline: number }> {
  const svg = page.locator(`[data-metric="${metric}"] svg.plot`);
  const max = Number(await svg.getAttribute('data-max'));
  const d = (await svg.locator('path.line').getAttribute('d')) ?? '';
  const ys = [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
  const baseline = Number(await svg.locator('line.axis').getAttribute('y1'));
  return { max, ys, baseline };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  }
  runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_ADMIN_KEY: ADMIN, WHATSAPP_APP_SECRET: APP_SECRET },
    args: ['--schedule-speed', '30'],
  });
  apiKey = await setupTenant(runtime, ADMIN, {
    tenantId: 'dash-tenant',
    phoneNumberId: PHONE_NUMBER_ID,
    messagesPerSecond: 40,
  });
  profileDir = mkdtempSync(join(tmpdir(), 'onceflow-chromium-'));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1100 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${runtime.apiUrl}/_local/dashboard`);
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await runtime?.stop();
});

describe('local dashboard in headless chromium', () => {
  it('renders every catalogue row, starting from zero suppressed', async () => {
    await pollUntil(async () => (await shownTotal('DuplicateSuppressed')) === 0, {
      description: 'the page to render DuplicateSuppressed = 0',
    });
    expect(await page.locator('[data-row]').count()).toBeGreaterThanOrEqual(5);
    expect(await page.locator('[data-queue="sends"]').count()).toBe(1);
  });

  it('shows, live, the duplicates a webhook storm had suppressed', async () => {
    // Act: 5 messages, each delivered 12 times at once.
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, m) =>
        Array.from({ length: 12 }, () =>
          deliver(cloudMessage(`wamid.storm-${m}`, `97250700000${m}`)),
        ),
      ).flat(),
    );
    const deduped = answers.reduce((sum, a) => sum + a.deduped, 0);

    // Assert: the handlers said 55 were duplicates; the page (never reloaded) shows the same.
    expect(deduped).toBe(5 * 11);
    await pollUntil(async () => (await shownTotal('DuplicateSuppressed')) === deduped, {
      timeoutMs: 15_000,
      description: `the page to show ${deduped} suppressed`,
    });
    expect(
      await page.locator('#decisions code', { hasText: 'wamid.storm-' }).count(),
    ).toBeGreaterThan(0);
  });

  it('draws each metric as a plot of its last ten minutes, with data in it after traffic', async () => {
    // The storm above: the plot's line rises off its baseline where the duplicates came in.
    await pollUntil(async () => (await shownPlot('DuplicateSuppressed')).max > 0, {
      description: 'the DuplicateSuppressed plot to show data',
    });
    const plot = await shownPlot('DuplicateSuppressed');
    expect(plot.ys).toHaveLength(60);
    expect(Math.min(...plot.ys)).toBeLessThan(plot.baseline);
    // Stored messages too (5 first deliveries), in their own plot.
    expect((await shownPlot('WebhookItemStored')).max).toBeGreaterThan(0);
    // Plain words first, the metric's name beside them.
    const card = page.locator('[data-metric="DuplicateSuppressed"]');
    expect(await card.locator('.label').textContent()).toBe('Repeats that wrote nothing');
    expect(await card.locator('.name').textContent()).toBe('DuplicateSuppressed');
    // The webhook's own duplicate count is shown as a part of it, never beside it as more.
    const part = page.locator('[data-metric="WebhookItemDeduped"]');
    expect(await part.getAttribute('class')).toContain('part');
    expect(await part.locator('.name').textContent()).toContain('part of DuplicateSuppressed');
    expect(await page.locator('.legend').textContent()).toContain('alarmed on AWS');
  });

  it("shows a small campaign's progress to 100%", async () => {
    const contacts = Array.from({ length: 24 }, (_, i) => phoneAt(9000 + i));
    const { campaignId } = await createCampaign(runtime, apiKey, PHONE_NUMBER_ID, contacts, 'dash');
    const started = await http(runtime.apiUrl, 'POST', `/v1/campaigns/${campaignId}/start`, {
      token: apiKey,
    });
    expect(started.status).toBe(202);
    const report = await driveToCompletion(runtime, apiKey, campaignId, {
      timeoutMs: 90_000,
      checkEveryPoll: false,
    });
    const finished = report.final.sent + report.final.delivered + report.final.read;

    const row = page.locator(`[data-campaign="${campaignId}"]`);
    await pollUntil(async () => (await row.locator('.progress').textContent()) === '100%', {
      timeoutMs: 15_000,
      description: 'the campaign row at 100%',
    });
    expect(await row.locator('.done').textContent()).toBe(
      `${contacts.length} / ${contacts.length}`,
    );
    expect(finished).toBe(contacts.length);
    expect(await row.textContent()).toContain('(40)');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'local-dashboard.png'), fullPage: true });
  });

  it('serves the OpenAPI document beside the page', async () => {
    const openapi = await http(runtime.apiUrl, 'GET', '/openapi.json');
    expect(openapi.status).toBe(200);
    expect(openapi.json.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.json.paths as object)).toContain('/webhooks/whatsapp');
  });

  it('lists only the armed simulator faults, and a PUT merges into them', async () => {
    await http(runtime.simUrl, 'PUT', '/_sim/faults', { body: { whatsapp: { errorRate: 0.2 } } });
    const put = await http(runtime.simUrl, 'PUT', '/_sim/faults', {
      body: { whatsapp: { latencyMs: 5 } },
    });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ faults: { whatsapp: { errorRate: 0.2, latencyMs: 5 } } });
    const listed = await http(runtime.simUrl, 'GET', '/_sim/faults');
    expect(listed.json).toEqual({ faults: { whatsapp: { errorRate: 0.2, latencyMs: 5 } } });
    await http(runtime.simUrl, 'DELETE', '/_sim/faults');
    expect((await http(runtime.simUrl, 'GET', '/_sim/faults')).json).toEqual({ faults: {} });
  });

  it("shows the runtime's clock, moved by /_local/clock/advance", async () => {
    const advanced = await http(runtime.apiUrl, 'POST', '/_local/clock/advance', {
      body: { seconds: 3600 },
    });
    expect(advanced.status).toBe(200);
    const runtimeNow = String(advanced.json.now).replace('T', ' ').slice(0, 16);
    await pollUntil(
      async () => ((await page.locator('#clock').textContent()) ?? '').startsWith(runtimeNow),
      { description: `the header clock to show ${runtimeNow}` },
    );
    // The campaign above may have jumped the clock already (unknown outcomes): the lead is the total.
    const lead = Number(advanced.json.offsetSeconds);
    expect(lead).toBeGreaterThanOrEqual(3600);
    await pollUntil(
      async () =>
        ((await page.locator('#offset').textContent()) ?? '').includes(
          `${lead.toLocaleString('en')} s ahead`,
        ),
      { description: `the header to say the clock is ${lead} s ahead` },
    );
  });

  it('clears one failpoint by name and leaves the others armed', async () => {
    const all = await http(runtime.apiUrl, 'GET', '/_local/failpoints');
    const [first, second] = (all.json.failpoints as Array<{ name: string }>).map((f) => f.name);
    expect(first && second).toBeTruthy();
    await http(runtime.apiUrl, 'PUT', '/_local/failpoints', {
      body: { [String(first)]: { probability: 1 }, [String(second)]: { probability: 1 } },
    });
    const cleared = await http(
      runtime.apiUrl,
      'DELETE',
      `/_local/failpoints/${encodeURIComponent(String(first))}`,
    );
    expect(cleared.status).toBe(200);
    const points = cleared.json.failpoints as Array<{
      name: string;
      armed: { probability: number } | null;
    }>;
    expect(points.find((p) => p.name === first)?.armed).toBeNull();
    expect(points.find((p) => p.name === second)?.armed?.probability).toBe(1);
    const unknown = await http(runtime.apiUrl, 'DELETE', '/_local/failpoints/no.such.point');
    expect(unknown.status).toBe(404);
    await http(runtime.apiUrl, 'DELETE', '/_local/failpoints');
  });
});
