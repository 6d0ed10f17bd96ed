/**
 * Inbound as a user meets it: the local runtime started as `npm start` starts it, webhooks signed
 * like Meta signs them, the jobs run by the runtime's own queue poller against the OpenAI
 * simulator, a crash armed through `PUT /_local/failpoints`, and the recovery schedule (sped up)
 * finishing the work after the clock is moved on through `/_local/clock/advance`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHubBody } from '../../functions/kernel/webhook-signature.js';
import { callJson } from '../support/http-client.js';
import { cloudText } from '../support/inbound-payloads.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';
import { pollUntil } from '../support/poll.js';

let runtime: SpawnedRuntime;
const ADMIN = 'e2e-admin-key';
const APP_SECRET = 'e2e-app-secret';
let apiKey: string;
let webhookToken: string;
const phoneNumberId = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
const locationId = `loc-${randomUUID().slice(0, 8)}`;

const call = (
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
) =>
  callJson(`${runtime.apiUrl}${path}`, method, {
    ...(init.body !== undefined ? { raw: init.body } : {}),
    ...(init.headers ? { headers: init.headers } : {}),
  });

const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const operator = () => ({ authorization: `Bearer ${apiKey}` });

const cloudPayload = (wamid: string, body = 'Is it still available?') =>
  cloudText({ phoneNumberId }, { wamid, body });

const deliver = (raw: string) =>
  call('POST', '/webhooks/whatsapp', {
    body: raw,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signHubBody(raw, APP_SECRET),
    },
  });

async function jobsOf(messageId: string) {
  return (await call('GET', `/v1/messages/${messageId}/jobs`, { headers: operator() })).json;
}

beforeAll(async () => {
  runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_ADMIN_KEY: ADMIN, WHATSAPP_APP_SECRET: APP_SECRET },
    args: ['--schedule-speed', '60'],
  });
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  const put = await call('PUT', `/v1/tenants/${tenantId}`, {
    headers: admin,
    body: JSON.stringify({
      name: 'Acme',
      defaultCountry: 'IL',
      whatsapp: { phoneNumberIds: [phoneNumberId] },
      ghl: { locationIds: [locationId] },
    }),
  });
  expect(put.status).toBe(200);
  const credentials = await call('POST', `/v1/tenants/${tenantId}/credentials`, { headers: admin });
  apiKey = credentials.json.apiKey;
  webhookToken = credentials.json.webhookToken;
});

afterAll(async () => {
  await fetch(`${runtime?.apiUrl}/_local/failpoints`, { method: 'DELETE' }).catch(() => undefined);
  await runtime?.stop();
});

describe('inbound over HTTP', () => {
  it('verifies the subscription challenge', async () => {
    const answer = await call(
      'GET',
      '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=local-verify-token&hub.challenge=4242',
    );
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('4242');
  });

  it('stores a message once under ten concurrent deliveries and runs its jobs once', async () => {
    const raw = cloudPayload(`wamid.${randomUUID()}`);
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(raw)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.reduce((n, a) => n + a.json.deduped, 0)).toBe(9);
    const conversations = await call('GET', '/v1/conversations', { headers: operator() });
    const conversation = conversations.json.conversations[0];
    expect(conversation).toMatchObject({
      displayName: 'Dana Levi',
      displayPhone: '+972 50 123 4567',
    });
    const messages = await call(
      'GET',
      `/v1/conversations/${conversation.conversationId}/messages`,
      { headers: operator() },
    );
    const messageId = messages.json.messages[0].messageId as string;
    const jobs = await pollUntil(
      async () => {
        const j = await jobsOf(messageId);
        return (
          j.jobs.length === 2 && j.jobs.every((x: { status: string }) => x.status === 'done') && j
        );
      },
      { timeoutMs: 30_000, description: 'both jobs done' },
    );
    expect(jobs.interactions).toHaveLength(1);
    expect(jobs.interactions[0].source).toBe('background_job:ai_triage');
  });

  it('a crash after the message is stored, then redelivery: the recovery schedule finishes the jobs', async () => {
    const armed = await call('PUT', '/_local/failpoints', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ 'inbound.after-message-stored': { probability: 1, times: 1 } }),
    });
    expect(armed.status).toBe(200);
    const raw = cloudPayload(`wamid.${randomUUID()}`, 'crash test');
    expect((await deliver(raw)).status).toBe(500);
    const again = await deliver(raw);
    expect(again.json).toMatchObject({ received: 1, deduped: 1 });
    await call('POST', '/_local/clock/advance', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 300 }),
    });
    const conversations = await call('GET', '/v1/conversations', { headers: operator() });
    const conversationId = conversations.json.conversations[0].conversationId as string;
    const messages = await call('GET', `/v1/conversations/${conversationId}/messages`, {
      headers: operator(),
    });
    const crashed = messages.json.messages.find((m: { body: string }) => m.body === 'crash test');
    expect(
      messages.json.messages.filter((m: { body: string }) => m.body === 'crash test'),
    ).toHaveLength(1);
    await pollUntil(
      async () => {
        const j = await jobsOf(crashed.messageId);
        return j.jobs.length === 2 && j.jobs.every((x: { status: string }) => x.status === 'done');
      },
      { timeoutMs: 30_000, description: 'the recovered jobs done' },
    );
  });

  it('GHL SMS: a retry is deduped to the original message id', async () => {
    const body = JSON.stringify({
      contact_id: 'c-e2e',
      phone: '050-123-4567',
      date_created: '2026-11-20T08:00:00.000Z',
      location: { id: locationId },
      workflow: { id: 'wf-1' },
      message: { type: 2, body: 'sms hello' },
      customData: { Date: '2026-11-22', Time: '07:30' },
    });
    const post = () =>
      call('POST', `/webhooks/ghl/sms?token=${encodeURIComponent(webhookToken)}`, {
        body,
        headers: { 'content-type': 'application/json' },
      });
    const first = await post();
    const second = await post();
    expect(first.json).toMatchObject({ success: true, deduped: false });
    expect(second.json).toMatchObject({
      success: true,
      deduped: true,
      messageId: first.json.messageId,
    });
    // The SMS from the same phone joins the WhatsApp conversation.
    const conversations = await call('GET', '/v1/conversations', { headers: operator() });
    expect(conversations.json.conversations).toHaveLength(1);
  });
});
