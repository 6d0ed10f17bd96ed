/**
 * Drives a campaign through a running local runtime over HTTP, as an operator and an ops engineer
 * would: tenant, credentials, create (pages of 5,000), start, faults and failpoints, polling totals
 * and the full listing, and the verdict from the simulator's ledger. Shared by the e2e tests and
 * `npm run bench -- campaign`.
 */
import { emptyTotals } from '../../functions/campaigns/model.js';

export interface RuntimeUrls {
  readonly apiUrl: string;
  readonly simUrl: string;
}

export interface Totals {
  recipients: number;
  pending: number;
  sending: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  unknown: number;
  skipped: number;
}

export interface Recipient {
  phone: string;
  status: keyof Omit<Totals, 'recipients'>;
  providerMessageId: string | null;
  attempts: number;
  lastError: string | null;
}

export interface LedgerMessage {
  wamid: string;
  to: string;
  bizOpaqueCallbackData: string | null;
}

export async function http(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: response.status, json };
}

/** Israeli mobile numbers, distinct for distinct `i`. */
export function phoneAt(i: number): string {
  return `+97250${String(1_000_000 + i).padStart(7, '0')}`;
}

/** The same contact written the way a spreadsheet export might have it. */
export function otherFormat(e164: string): string {
  const national = `0${e164.slice(4)}`;
  return `${national.slice(0, 3)}-${national.slice(3, 6)}-${national.slice(6)}`;
}

export async function setupTenant(
  urls: RuntimeUrls,
  adminKey: string,
  options: {
    tenantId: string;
    phoneNumberId: string;
    messagesPerSecond: number;
    unknownOutcome?: 'hold' | 'retry_once';
  },
): Promise<string> {
  const put = await http(urls.apiUrl, 'PUT', `/v1/tenants/${options.tenantId}`, {
    token: adminKey,
    body: {
      name: 'Campaign tenant',
      defaultCountry: 'IL',
      whatsapp: { phoneNumberIds: [options.phoneNumberId] },
      messagesPerSecond: options.messagesPerSecond,
      ...(options.unknownOutcome ? { unknownOutcome: options.unknownOutcome } : {}),
    },
  });
  if (put.status !== 200) throw new Error(`PUT tenant → ${put.status} ${JSON.stringify(put.json)}`);
  const creds = await http(urls.apiUrl, 'POST', `/v1/tenants/${options.tenantId}/credentials`, {
    token: adminKey,
  });
  if (creds.status !== 201) throw new Error(`credentials → ${creds.status}`);
  return String(creds.json.apiKey);
}

/** Creates a campaign with `entries` (first page on create, the rest as pages), retrying safely. */
export async function createCampaign(
  urls: RuntimeUrls,
  apiKey: string,
  phoneNumberId: string,
  entries: readonly string[],
  key: string,
): Promise<{ campaignId: string; recipients: number; duplicatesCollapsed: number }> {
  const pages: string[][] = [];
  for (let i = 0; i < entries.length; i += 5000) pages.push(entries.slice(i, i + 5000));
  const created = await retry(() =>
    http(urls.apiUrl, 'POST', '/v1/campaigns', {
      token: apiKey,
      headers: { 'idempotency-key': `${key}-create` },
      body: {
        name: `Campaign ${key}`,
        template: { name: 'spring_sale', language: 'en_US' },
        phoneNumberId,
        recipients: (pages[0] ?? []).map((phone) => ({ phone })),
      },
    }),
  );
  const campaignId = String(created.json.campaignId);
  let recipients = Number(created.json.recipients);
  let duplicatesCollapsed = Number(created.json.duplicatesCollapsed);
  for (const [index, page] of pages.slice(1).entries()) {
    const added = await retry(() =>
      http(urls.apiUrl, 'POST', `/v1/campaigns/${campaignId}/recipients`, {
        token: apiKey,
        headers: { 'idempotency-key': `${key}-page-${index}` },
        body: { recipients: page.map((phone) => ({ phone })) },
      }),
    );
    recipients += Number(added.json.recipients);
    duplicatesCollapsed += Number(added.json.duplicatesCollapsed);
  }
  return { campaignId, recipients, duplicatesCollapsed };
}

/** Retries a call until it answers 2xx (a crash answers 5xx; a crashed key is in progress: 409). */
export async function retry(
  call: () => Promise<{ status: number; json: Record<string, unknown> }>,
  timeoutMs = 90_000,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await call().catch(() => ({ status: 0, json: {} }));
    if (result.status >= 200 && result.status < 300) return result;
    if (result.status >= 400 && result.status < 500 && result.status !== 409) {
      throw new Error(`refused: ${result.status} ${JSON.stringify(result.json)}`);
    }
    if (Date.now() > deadline) throw new Error(`still failing: ${result.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The campaign's totals. A read that fails on the server side is retried for a few seconds as a
 * client would (on a saturated 2-core machine DynamoDB Local now and then refuses a connection);
 * a 4xx is never retried, and a read still failing after that fails the test.
 */
export async function totals(urls: RuntimeUrls, apiKey: string, campaignId: string) {
  const out = await retry(
    () => http(urls.apiUrl, 'GET', `/v1/campaigns/${campaignId}`, { token: apiKey }),
    10_000,
  );
  return out.json as unknown as { status: string; totals: Totals };
}

export async function listing(
  urls: RuntimeUrls,
  apiKey: string,
  campaignId: string,
): Promise<Recipient[]> {
  const all: Recipient[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const out = await http(urls.apiUrl, 'GET', `/v1/campaigns/${campaignId}/recipients${query}`, {
      token: apiKey,
    });
    if (out.status !== 200) throw new Error(`listing → ${out.status}`);
    all.push(...(out.json.recipients as Recipient[]));
    cursor = (out.json.nextCursor as string | null) ?? null;
  } while (cursor);
  return all;
}

export function countListing(list: readonly Recipient[]): Totals {
  const t: Totals = { ...emptyTotals(), recipients: list.length };
  for (const r of list) t[r.status] += 1;
  return t;
}

/**
 * The campaign's totals once the change feed is folded: totals are folded from the recipients'
 * stream records (seconds behind their transitions), so they are read until they equal what the
 * listing adds up to, or the deadline passes; the last read is answered either way, for the test
 * to assert (a count folded twice or lost never equals the listing).
 */
export async function totalsOnceFolded(
  urls: RuntimeUrls,
  apiKey: string,
  campaignId: string,
  listed: readonly Recipient[],
  timeoutMs = 60_000,
): Promise<Totals> {
  const expected = JSON.stringify(countListing(listed));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { totals: t } = await totals(urls, apiKey, campaignId);
    if (JSON.stringify({ ...emptyTotals(), ...t }) === expected || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface SimLedger {
  readonly messages: LedgerMessage[];
  readonly pendingStatuses: number;
  /** Refusals by error code since the last reset (130429: over the rate). */
  readonly refused?: Record<string, number>;
}

export async function ledger(urls: RuntimeUrls): Promise<SimLedger> {
  const out = await http(urls.simUrl, 'GET', '/_sim/whatsapp/messages');
  return out.json as unknown as SimLedger;
}

export async function armCampaignFailpoints(
  urls: RuntimeUrls,
  probability: number,
  only?: (name: string) => boolean,
) {
  const list = await http(urls.apiUrl, 'GET', '/_local/failpoints');
  const names = (list.json.failpoints as Array<{ name: string }>)
    .map((f) => f.name)
    .filter((name) => name.startsWith('campaign.') && (only ? only(name) : true));
  const armed = await http(urls.apiUrl, 'PUT', '/_local/failpoints', {
    body: Object.fromEntries(names.map((name) => [name, { probability }])),
  });
  if (armed.status !== 200)
    throw new Error(`arming failpoints → ${armed.status} ${JSON.stringify(armed.json)}`);
  return names;
}

export async function queuesIdle(urls: RuntimeUrls): Promise<boolean> {
  const out = await http(urls.apiUrl, 'GET', '/_local/queues');
  const queues = (out.json.queues ?? []) as Array<{
    queue: string;
    visible: number;
    inFlight: number;
  }>;
  // Visible messages behind in-flight ones are blocked (a FIFO group with a message in flight
  // delivers nothing else): a crashed batch waits out its visibility timeout, on the clock.
  return queues.filter((q) => q.queue === 'sends').every((q) => q.visible === 0 || q.inFlight > 0);
}

export interface DriveReport {
  readonly polls: number;
  readonly clockAdvances: number;
  readonly mismatchedPolls: number;
  readonly final: Totals;
}

/**
 * Polls until every contact is final. Totals are folded from the change feed: the drive starts
 * once every contact's arrival is folded (the totals count the listing's contacts, under the
 * deadline), and from then on every poll's totals must count exactly the contacts the listing
 * holds (their statuses always add up to it: each transition is folded whole). It ends when the
 * totals show nothing pending or sending and the listing, read after them, agrees status by
 * status (a release to pending not yet folded cannot end it early). When nothing has moved for a
 * few polls, no queue message is waiting and the simulator owes no status, the only work left
 * waits for a window (an unknown outcome, a re-ring, a crashed batch): the clock jumps past it
 * instead of the test sleeping.
 */
export async function driveToCompletion(
  urls: RuntimeUrls,
  apiKey: string,
  campaignId: string,
  options: {
    timeoutMs: number;
    onPoll?: (t: Totals) => void;
    intervalMs?: number;
    checkEveryPoll?: boolean;
  },
): Promise<DriveReport> {
  const deadline = Date.now() + options.timeoutMs;
  let polls = 0;
  let clockAdvances = 0;
  let mismatchedPolls = 0;
  let last = '';
  let still = 0;
  const contacts = (await listing(urls, apiKey, campaignId)).length;
  while ((await totals(urls, apiKey, campaignId)).totals.recipients !== contacts) {
    if (Date.now() > deadline) throw new Error('the arrivals were not folded in time');
    await new Promise((r) => setTimeout(r, 250));
  }
  for (;;) {
    const { totals: t } = await totals(urls, apiKey, campaignId);
    polls += 1;
    options.onPoll?.(t);
    let listed: Recipient[] | undefined;
    if (options.checkEveryPoll !== false) {
      listed = await listing(urls, apiKey, campaignId);
      const sum =
        t.pending + t.sending + t.sent + t.delivered + t.read + t.failed + t.unknown + t.skipped;
      if (listed.length !== t.recipients || sum !== t.recipients) mismatchedPolls += 1;
    }
    if (t.pending === 0 && t.sending === 0) {
      listed ??= await listing(urls, apiKey, campaignId);
      if (!listed.some((r) => r.status === 'pending' || r.status === 'sending')) {
        return { polls, clockAdvances, mismatchedPolls, final: t };
      }
    }
    const fingerprint = JSON.stringify(t);
    still = fingerprint === last ? still + 1 : 0;
    last = fingerprint;
    if (still >= 4) {
      const sim = await ledger(urls);
      if (sim.pendingStatuses === 0 && (await queuesIdle(urls))) {
        await http(urls.apiUrl, 'POST', '/_local/clock/advance', { body: { seconds: 660 } });
        clockAdvances += 1;
        still = 0;
      }
    }
    if (Date.now() > deadline) throw new Error(`campaign not finished in time: ${fingerprint}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
  }
}

export async function waitForStatuses(urls: RuntimeUrls, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await ledger(urls)).pendingStatuses > 0) {
    if (Date.now() > deadline) throw new Error('simulator still owes status webhooks');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Ledger entries per contact of this campaign: every value must be 1. */
export function sendsPerContact(
  messages: readonly LedgerMessage[],
  campaignId: string,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of messages) {
    if (!m.bizOpaqueCallbackData?.includes(`|${campaignId}|`)) continue;
    counts.set(m.to, (counts.get(m.to) ?? 0) + 1);
  }
  return counts;
}
