/**
 * The legacy import never doubles: history is imported with `npx onceflow import conversations
 * --execute` (the CLI finding the runtime through its `runtime.json`, no port variables), then the
 * live webhook of every channel redelivers each imported message through the real routes of the
 * running runtime (Cloud API signed like Meta, WhatsApp Web and GoHighLevel with the tenant's webhook
 * token). Every redelivery is answered as a duplicate and every conversation holds each message
 * once, whether the legacy line said its provider or the import inferred it. History gets no
 * post-processing jobs (a message under a day old does), and `lastMessageAt` is the messages' own
 * time, never moved backwards by an import. `inspect webhook` finds every imported id.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHubBody } from '../../functions/kernel/webhook-signature.js';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { callJson } from '../support/http-client.js';
import { cloudText, fixture } from '../support/inbound-payloads.js';
import { type SpawnedRuntime, spawnLocalRuntime, tsxCommand } from '../support/local-runtime.js';

const run = promisify(execFile);
const ADMIN = 'e2e-admin-key';
const APP_SECRET = 'e2e-app-secret';
const suffix = randomUUID().slice(0, 8);
const tenantId = `imp-${suffix}`;
const phoneNumberId = `pn${suffix}`;
const locationId = `loc-${suffix}`;
const instance = `inst-${suffix}`;
const HOUR = 3600_000;

let runtime: SpawnedRuntime;
let apiKey: string;
let webhookToken: string;

const DANA = { jid: '972501112233@s.whatsapp.net', digits: '972501112233' };
const OMER = { digits: '972502223344' };
const NOA = { national: '050-333-4455' };

/** Provider ids, one per channel and per way of saying the provider. */
const ids = {
  cloudSaid: `wamid.HBgM${suffix}said`,
  cloudInferred: `wamid.HBgM${suffix}inferred`,
  webSaid: `3EB0${suffix.toUpperCase().replace(/[^0-9A-F]/g, 'A')}0001`,
  webInferred: `3A${suffix.toUpperCase().replace(/[^0-9A-F]/g, 'B')}000000002`,
  ghlSaid: `sms-${suffix}-said`,
  ghlInferred: `sms-${suffix}-inferred`,
};

const iso = (ms: number) => new Date(ms).toISOString();

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { command, args: tsxArgs } = tsxCommand('bin/cli.ts');
  try {
    const out = await run(command, [...tsxArgs, ...args], {
      cwd: PROJECT_ROOT,
      // The runtime's ports come from its runtime.json, as for an operator with a shell of defaults.
      env: { ...process.env, ONCEFLOW_DATA_DIR: runtime.dataDir, DYNAMODB_PORT: '', SQS_PORT: '' },
    });
    return { code: 0, stdout: out.stdout, stderr: out.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const api = (method: string, path: string, body?: unknown, token = apiKey) =>
  callJson(`${runtime.apiUrl}${path}`, method, {
    token,
    ...(body !== undefined ? { body } : {}),
  });

function replayCloud(wamid: string, from: string) {
  const raw = cloudText({ phoneNumberId }, { wamid, from, body: 'legacy', name: 'Dana' });
  return callJson(`${runtime.apiUrl}/webhooks/whatsapp`, 'POST', {
    raw,
    headers: { 'x-hub-signature-256': signHubBody(raw, APP_SECRET) },
  });
}

function replayWeb(keyId: string, jid: string) {
  const payload = fixture('whatsapp-web-upsert') as { instance: string; data: { key: object } };
  payload.instance = instance;
  payload.data.key = { remoteJid: jid, fromMe: false, id: keyId };
  return callJson(`${runtime.apiUrl}/webhooks/whatsapp-web`, 'POST', {
    body: payload,
    headers: { 'x-webhook-token': webhookToken },
  });
}

function replayGhl(messageId: string, phone: string) {
  const payload = fixture('ghl-sms') as Record<string, unknown>;
  payload.location = { name: 'Acme', id: locationId };
  payload.phone = phone;
  payload.contact_id = `contact-${suffix}`;
  payload.message = { type: 2, body: 'legacy sms', id: messageId };
  return callJson(`${runtime.apiUrl}/webhooks/ghl/sms`, 'POST', {
    body: payload,
    headers: { 'x-webhook-token': webhookToken },
  });
}

async function conversations(): Promise<
  Array<{ conversationId: string; lastMessageAt: string; messageCount: number }>
> {
  return (await api('GET', '/v1/conversations?limit=100')).json.conversations;
}

async function messagesOf(conversationId: string) {
  return (await api('GET', `/v1/conversations/${conversationId}/messages`)).json.messages as Array<{
    messageId: string;
    providerMessageId: string;
    createdAt: string;
  }>;
}

beforeAll(async () => {
  runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_ADMIN_KEY: ADMIN, WHATSAPP_APP_SECRET: APP_SECRET },
  });
  const put = await api(
    'PUT',
    `/v1/tenants/${tenantId}`,
    {
      name: 'Import tenant',
      defaultCountry: 'IL',
      whatsapp: { phoneNumberIds: [phoneNumberId] },
      ghl: { locationIds: [locationId] },
      whatsappWeb: { instances: [instance] },
    },
    ADMIN,
  );
  expect(put.status).toBe(200);
  const credentials = await api('POST', `/v1/tenants/${tenantId}/credentials`, undefined, ADMIN);
  apiKey = credentials.json.apiKey;
  webhookToken = credentials.json.webhookToken;
});

afterAll(async () => {
  await runtime?.stop();
});

describe('legacy import, then the live webhooks of every channel', () => {
  const now = Date.now();
  const old = (days: number) => iso(now - days * 24 * HOUR);
  let omerLiveAt = '';

  it('imports history under the live keys, then every live redelivery is a duplicate', async () => {
    // Prepare: Omer already wrote live today, before the import of his older history.
    const live = await replayCloud(`wamid.HBgM${suffix}live`, OMER.digits);
    expect(live.json).toMatchObject({ received: 1, deduped: 0 });
    omerLiveAt = (await conversations())[0]?.lastMessageAt ?? '';
    expect(omerLiveAt).not.toBe('');

    const message = (
      providerMessageId: string,
      channel: 'whatsapp' | 'sms',
      createdAt: string,
      provider?: 'cloud' | 'web' | 'ghl',
    ) => ({
      providerMessageId,
      ...(provider ? { provider } : {}),
      direction: 'in',
      channel,
      body: `legacy ${providerMessageId}`,
      createdAt,
    });
    const lines = [
      {
        tenantId,
        legacyId: 'dana',
        identifiers: [DANA.jid],
        name: 'Dana',
        messages: [
          message(ids.cloudSaid, 'whatsapp', old(300), 'cloud'),
          message(ids.cloudInferred, 'whatsapp', old(200)),
          message(ids.webSaid, 'whatsapp', old(100), 'web'),
          message(ids.webInferred, 'whatsapp', old(50)),
        ],
      },
      {
        tenantId,
        legacyId: 'noa',
        identifiers: [NOA.national],
        messages: [
          message(ids.ghlSaid, 'sms', old(30), 'ghl'),
          // Under a day old: its jobs run, as if it had just arrived.
          message(ids.ghlInferred, 'sms', iso(now - 2 * HOUR)),
        ],
      },
      {
        tenantId,
        legacyId: 'omer',
        identifiers: [OMER.digits],
        messages: [message(`wamid.HBgM${suffix}omer-old`, 'whatsapp', old(10))],
      },
      // A WhatsApp id of no recognisable form, without a provider: refused, never guessed.
      {
        tenantId,
        legacyId: 'unclear',
        identifiers: ['972504445566'],
        messages: [message('legacy-id-17', 'whatsapp', old(5))],
      },
    ];
    const file = join(mkdtempSync(join(tmpdir(), 'onceflow-import-')), 'inbox.jsonl');
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);

    // Act: import
    const imported = await cli('--json', 'import', 'conversations', file, '--execute');

    // Assert: 7 messages written, 1 with jobs (the recent inbound one); the unclear row refused
    expect(imported.code).toBe(0);
    const report = JSON.parse(imported.stdout);
    expect(report.result).toEqual({ written: 7, alreadyThere: 0, withJobs: 1, conversations: 3 });
    expect(report.refused).toHaveLength(1);
    expect(report.refused[0].reason).toMatch(/"provider"/);

    // Act: the live webhook of each channel redelivers each imported message
    const answers = [
      await replayCloud(ids.cloudSaid, DANA.digits),
      await replayCloud(ids.cloudInferred, DANA.digits),
      await replayWeb(ids.webSaid, DANA.jid),
      await replayWeb(ids.webInferred, DANA.jid),
      await replayCloud(`wamid.HBgM${suffix}omer-old`, OMER.digits),
    ];
    const ghl = [
      await replayGhl(ids.ghlSaid, NOA.national),
      await replayGhl(ids.ghlInferred, NOA.national),
    ];

    // Assert: every redelivery was a duplicate; each person has one conversation, each message once
    for (const answer of answers) expect(answer.json).toMatchObject({ received: 1, deduped: 1 });
    for (const answer of ghl) expect(answer.json).toMatchObject({ success: true, deduped: true });
    const all = await conversations();
    expect(all).toHaveLength(3);
    const counts = all.map((c) => c.messageCount).sort();
    expect(counts).toEqual([2, 2, 4]);
    for (const c of all) {
      const listed = await messagesOf(c.conversationId);
      const providerIds = listed.map((m) => m.providerMessageId);
      expect(new Set(providerIds).size).toBe(providerIds.length);
      expect(listed).toHaveLength(c.messageCount);
    }
  });

  it("places conversations by their messages' own time, never backwards", async () => {
    const all = await conversations();
    const dana = all.find((c) => c.messageCount === 4);
    const noa = all.find((c) => c.messageCount === 2 && c.lastMessageAt !== omerLiveAt);
    const omer = all.find((c) => c.lastMessageAt === omerLiveAt);
    // Dana's newest legacy message is 50 days old; Noa's is 2 hours old.
    expect(dana?.lastMessageAt).toBe(old(50));
    expect(noa?.lastMessageAt).toBe(iso(now - 2 * HOUR));
    // Omer's live message of today keeps its place over his imported 10-day-old history.
    expect(omer).toBeDefined();
    // The listing is most recent first: Omer (live), Noa (2 h), Dana (50 days).
    expect(all.map((c) => c.conversationId)).toEqual(
      [omer, noa, dana].map((c) => c?.conversationId),
    );
  });

  it('creates post-processing jobs only for messages under a day old', async () => {
    const all = await conversations();
    const jobsByProviderId = new Map<string, number>();
    for (const c of all) {
      for (const m of await messagesOf(c.conversationId)) {
        const jobs = (await api('GET', `/v1/messages/${m.messageId}/jobs`)).json.jobs as unknown[];
        jobsByProviderId.set(m.providerMessageId, jobs.length);
      }
    }
    expect(jobsByProviderId.get(ids.ghlInferred)).toBeGreaterThan(0);
    for (const id of [
      ids.cloudSaid,
      ids.cloudInferred,
      ids.webSaid,
      ids.webInferred,
      ids.ghlSaid,
    ]) {
      expect(jobsByProviderId.get(id)).toBe(0);
    }
  });

  it('inspect webhook finds every imported id, SMS and WhatsApp Web ones included', async () => {
    for (const [id, storedAs] of [
      [ids.cloudSaid, 'cloud'],
      [ids.webInferred, 'web'],
      [ids.ghlSaid, 'ghl'],
    ] as const) {
      const inspected = await cli('inspect', 'webhook', id, '--tenant', tenantId);
      expect(inspected.code, inspected.stderr).toBe(0);
      expect(JSON.parse(inspected.stdout)).toMatchObject({ storedAs, providerMessageId: id });
    }
  });
});
