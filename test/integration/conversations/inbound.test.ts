/**
 * Inbound webhooks against the real DynamoDB Local and SQS emulator: stored exactly once under
 * duplicate storms, one conversation per person, one job per (message, type).
 */
import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as listConversations } from '../../../functions/conversations/handlers/list-conversations.js';
import { handler as listJobs } from '../../../functions/conversations/handlers/list-jobs.js';
import { handler as listMessages } from '../../../functions/conversations/handlers/list-messages.js';
import { keys, toMessageItem } from '../../../functions/conversations/items.js';
import { messageIdFor } from '../../../functions/conversations/store-message.js';
import { jobsOf } from '../../../functions/jobs/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { handler as processJob } from '../../../functions/replies/handlers/process-job.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { handler as whatsappWeb } from '../../../functions/webhooks/handlers/receive-whatsapp-web.js';
import { testSqsClient } from '../../support/emulators.js';
import { pollUntil } from '../../support/poll.js';
import {
  apiCall,
  cloudCall,
  cloudText,
  createTenant,
  drainQueue,
  fixture,
  ghlPayload,
  invoke,
  privateJobsQueue,
  startAiSimulator,
  type TestTenant,
  tenantConversations,
  tokenCall,
  webPayload,
} from './inbound-support.js';

let sqs: SQSClient;
let queueUrl: string;
let ai: Awaited<ReturnType<typeof startAiSimulator>>;
let tenant: TestTenant;

beforeAll(async () => {
  sqs = testSqsClient();
  queueUrl = await privateJobsQueue(sqs);
  ai = await startAiSimulator();
  tenant = await createTenant();
});

afterAll(async () => {
  await ai.stop();
  sqs.destroy();
});

/** Every item under the message's key (the message, its interactions) and its jobs, strongly consistent. */
async function messagePartition(messageId: string) {
  const out = await ddb.send(
    new QueryCommand({
      TableName: tableName('inbound'),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.message(messageId).pk },
      ConsistentRead: true,
    }),
  );
  const items = out.Items ?? [];
  const message = items.find((i) => i.kind === 'message');
  return { items, jobs: jobsOf(message ? toMessageItem(message) : undefined) };
}

async function queueDepth(): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

/** `GET /v1/conversations/{id}/messages` through its handler, as an operator calls it. */
function conversationMessages(apiKey: string, conversationId: unknown) {
  return invoke(
    listMessages,
    apiCall(apiKey, {
      method: 'GET',
      routeKey: 'GET /v1/conversations/{conversationId}/messages',
      path: '/x',
      pathParameters: { conversationId: String(conversationId) },
    }),
  );
}

describe('POST /webhooks/whatsapp', () => {
  it('the same webhook 50 times concurrently → one message, one job per type, jobs run once', async () => {
    // Prepare
    const t = await createTenant();
    const wamid = `wamid.${randomUUID()}`;
    const raw = cloudText(t, { wamid });
    // Act
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => invoke(whatsapp, cloudCall(raw))),
    );
    // Assess
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(answers.reduce((n, a) => n + a.json.received, 0)).toBe(50);
    expect(answers.reduce((n, a) => n + a.json.deduped, 0)).toBe(49);
    const messageId = messageIdFor(t.tenantId, `wamid:${wamid}`);
    const { items, jobs: stored } = await messagePartition(messageId);
    expect(items.filter((i) => i.kind === 'message')).toHaveLength(1);
    expect(stored.map((j) => [j.jobType, j.generation]).sort()).toEqual([
      ['ai_triage', 1],
      ['lead_match', 1],
    ]);
    const conversations = await tenantConversations(t.tenantId);
    expect(conversations).toHaveLength(1);
    expect(conversations[0]?.messageCount).toBe(1);
    // One ring names both jobs of the message (issue 25: one claim, one settle).
    expect(await queueDepth()).toBe(1);

    await drainQueue(sqs, queueUrl, processJob);
    const jobs = await invoke(
      listJobs,
      apiCall(t.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/messages/{messageId}/jobs',
        path: `/v1/messages/${messageId}/jobs`,
        pathParameters: { messageId },
      }),
    );
    expect(jobs.status).toBe(200);
    expect(jobs.json.jobs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'lead_match',
          status: 'done',
          attempts: 1,
          source: 'background_job:lead_match',
        }),
        expect.objectContaining({
          type: 'ai_triage',
          status: 'done',
          attempts: 1,
          source: 'background_job:ai_triage',
        }),
      ]),
    );
    expect(jobs.json.interactions).toHaveLength(1);
    expect(jobs.json.interactions[0]).toMatchObject({ source: 'background_job:ai_triage' });
    expect(jobs.json.interactions[0].promptTokens).toBeGreaterThan(0);
  });

  it('answers the verify challenge as text/plain, and 403 for a wrong token', async () => {
    const call = (token: string) =>
      invoke(whatsapp, {
        method: 'GET',
        routeKey: 'GET /webhooks/whatsapp',
        path: '/webhooks/whatsapp',
        query: {
          'hub.mode': 'subscribe',
          'hub.verify_token': token,
          'hub.challenge': '1158201444',
        },
      });
    const ok = await call('local-verify-token');
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('1158201444');
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect((await call('wrong')).status).toBe(403);
  });

  it('refuses a bad signature with 401 and stores nothing', async () => {
    const wamid = `wamid.${randomUUID()}`;
    const raw = cloudText(tenant, { wamid });
    const answer = await invoke(whatsapp, cloudCall(raw, 'not-the-app-secret'));
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('unauthorized');
    expect((await messagePartition(messageIdFor(tenant.tenantId, `wamid:${wamid}`))).items).toEqual(
      [],
    );
  });

  it('acknowledges an unknown phone_number_id and stores nothing', async () => {
    const raw = cloudText(
      { phoneNumberId: `unknown-${randomUUID()}` },
      { wamid: `wamid.${randomUUID()}` },
    );
    const answer = await invoke(whatsapp, cloudCall(raw));
    expect(answer.status).toBe(200);
    // Every item is accounted for: received, and unroutable (no tenant owns the number).
    expect(answer.json).toEqual({ received: 1, stored: 0, deduped: 0, unroutable: 1, invalid: 0 });
  });

  it('hands every status to the campaign status interface', async () => {
    const payload = fixture('whatsapp-cloud-status') as {
      entry: Array<{ changes: Array<{ value: { metadata: { phone_number_id: string } } }> }>;
    };
    const value = payload.entry[0]?.changes[0]?.value;
    if (value) value.metadata.phone_number_id = tenant.phoneNumberId;
    const answer = await invoke(whatsapp, cloudCall(JSON.stringify(payload)));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ received: 1, deduped: 0 });
  });
});

describe('POST /webhooks/ghl/sms', () => {
  it('50 concurrent retries → one message; duplicates return the original messageId', async () => {
    const t = await createTenant();
    const body = JSON.stringify(ghlPayload(t, { contact_id: `c-${randomUUID()}` }));
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken)),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    const ids = new Set(answers.map((a) => a.json.messageId));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.json.deduped === false)).toHaveLength(1);
    expect(answers.every((a) => a.json.success === true)).toBe(true);
    const conversations = await tenantConversations(t.tenantId);
    expect(conversations.map((c) => c.messageCount)).toEqual([1]);
  });

  it('is 401 without a token, with a wrong one, and with another tenant’s token', async () => {
    const other = await createTenant();
    const body = JSON.stringify(ghlPayload(tenant));
    expect((await invoke(ghl, tokenCall('/webhooks/ghl/sms', body))).status).toBe(401);
    expect((await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, 'of_whk_wrong'))).status).toBe(
      401,
    );
    expect(
      (await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, other.webhookToken))).status,
    ).toBe(401);
  });

  it('re-enqueues a failed job on a duplicate, and leaves pending and done jobs alone', async () => {
    const t = await createTenant();
    await drainQueue(sqs, queueUrl, processJob);
    const body = JSON.stringify(ghlPayload(t, { contact_id: `c-${randomUUID()}` }));
    const first = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    const messageId = first.json.messageId as string;
    // A duplicate while the jobs are pending: nothing new is enqueued (SQS holds the first ring,
    // which names both jobs).
    await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    expect(await queueDepth()).toBe(1);
    // The triage fails for good (the model answers 500 every time).
    await fetch(`${ai.url}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ openai: { errorRate: 1 } }),
    });
    // SQS redelivers the failed ring after its visibility timeout until the attempts run out.
    const failed = await pollUntil(
      async () => {
        await drainQueue(sqs, queueUrl, processJob);
        const job = (await messagePartition(messageId)).jobs.find((j) => j.jobType === 'ai_triage');
        return job?.status === 'failed' && job.attempts === 3 && job;
      },
      { timeoutMs: 20_000, description: 'ai_triage failed for good' },
    );
    await fetch(`${ai.url}/_sim/faults`, { method: 'DELETE' });
    expect(failed.error).toMatch(/500/);
    // A duplicate now resets the failed job only.
    const again = await invoke(ghl, tokenCall('/webhooks/ghl/sms', body, t.webhookToken));
    expect(again.json).toMatchObject({ success: true, deduped: true, messageId });
    const jobs = await pollUntil(
      async () => {
        await drainQueue(sqs, queueUrl, processJob);
        const { jobs } = await messagePartition(messageId);
        return jobs.find((j) => j.jobType === 'ai_triage')?.status === 'done' && jobs;
      },
      { timeoutMs: 20_000, description: 'the reset ai_triage job done' },
    );
    const triage = jobs.find((i) => i.jobType === 'ai_triage');
    const match = jobs.find((i) => i.jobType === 'lead_match');
    expect(triage).toMatchObject({ status: 'done', generation: 2, attempts: 1 });
    expect(match).toMatchObject({ status: 'done', generation: 1, attempts: 1 });
  });
});

describe('POST /webhooks/whatsapp-web', () => {
  it('files the business’s own replies in the same conversation, outbound', async () => {
    const t = await createTenant();
    const jid = '972541112233@s.whatsapp.net';
    const send = (key: Record<string, unknown>, text: string) =>
      invoke(
        whatsappWeb,
        tokenCall(
          '/webhooks/whatsapp-web',
          JSON.stringify(webPayload(t, key, text)),
          t.webhookToken,
        ),
      );
    expect((await send({ remoteJid: jid, id: `IN-${randomUUID()}` }, 'hello')).json).toMatchObject({
      received: 1,
      deduped: 0,
    });
    expect(
      (await send({ remoteJid: jid, id: `OUT-${randomUUID()}`, fromMe: true }, 'hi there')).status,
    ).toBe(200);
    const [conversation, ...rest] = await tenantConversations(t.tenantId);
    expect(rest).toEqual([]);
    expect(conversation?.messageCount).toBe(2);
    const messages = await conversationMessages(t.apiKey, conversation?.conversationId);
    expect(messages.json.messages.map((m: { direction: string }) => m.direction).sort()).toEqual([
      'in',
      'out',
    ]);
  });

  it('keeps status updates out, and names a message without text by its type', async () => {
    const t = await createTenant();
    const send = (data: Record<string, unknown>) =>
      invoke(
        whatsappWeb,
        tokenCall(
          '/webhooks/whatsapp-web',
          JSON.stringify({ ...webPayload(t, {}), data }),
          t.webhookToken,
        ),
      );
    // A contact's WhatsApp Status ("story") is not a message to the business.
    const story = await send({
      key: {
        remoteJid: 'status@broadcast',
        participant: '972541112244@s.whatsapp.net',
        fromMe: false,
        id: `ST-${randomUUID()}`,
      },
      pushName: 'Dana',
      message: { conversation: 'my holiday story' },
    });
    expect(story.status).toBe(200);
    expect(await tenantConversations(t.tenantId)).toEqual([]);
    const voice = await send({
      key: { remoteJid: '972541112244@s.whatsapp.net', fromMe: false, id: `AU-${randomUUID()}` },
      pushName: 'Dana',
      messageType: 'audioMessage',
      message: { audioMessage: { seconds: 4, ptt: true } },
    });
    const sticker = await send({
      key: { remoteJid: '972541112244@s.whatsapp.net', fromMe: false, id: `SK-${randomUUID()}` },
      message: { stickerMessage: { isAnimated: false }, messageContextInfo: {} },
    });
    expect([voice.json, sticker.json]).toMatchObject([
      { received: 1, deduped: 0 },
      { received: 1, deduped: 0 },
    ]);
    const [conversation] = await tenantConversations(t.tenantId);
    const messages = await conversationMessages(t.apiKey, conversation?.conversationId);
    expect(messages.json.messages.map((m: { body: string }) => m.body).sort()).toEqual([
      '[audio]',
      '[sticker]',
    ]);
  });

  it('names the bad field of an invalid messages.upsert', async () => {
    const answer = await invoke(
      whatsappWeb,
      tokenCall(
        '/webhooks/whatsapp-web',
        JSON.stringify({
          event: 'messages.upsert',
          instance: tenant.instance,
          data: { key: { remoteJid: 5, id: 'X1', fromMe: 'yes' } },
        }),
        tenant.webhookToken,
      ),
    );
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
    expect(answer.json.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'data.key.fromMe',
      'data.key.remoteJid',
    ]);
  });

  it('acknowledges other events as ignored', async () => {
    const body = JSON.stringify({
      event: 'connection.update',
      instance: tenant.instance,
      data: { state: 'open' },
    });
    const answer = await invoke(
      whatsappWeb,
      tokenCall('/webhooks/whatsapp-web', body, tenant.webhookToken),
    );
    expect(answer).toMatchObject({ status: 200, json: { ignored: true } });
  });
});

describe('identity', () => {
  it('one person under five identifiers → one conversation, named by profile, never by @lid', async () => {
    const t = await createTenant();
    const phone = '972527654321';
    const lid = `${Date.now()}${Math.floor(Math.random() * 1000)}@lid`;
    const web = (key: Record<string, unknown>, text: string) =>
      invoke(
        whatsappWeb,
        tokenCall(
          '/webhooks/whatsapp-web',
          JSON.stringify(webPayload(t, key, text, 'Noa')),
          t.webhookToken,
        ),
      );
    // 1. Cloud API wa_id
    await invoke(
      whatsapp,
      cloudCall(cloudText(t, { wamid: `wamid.${randomUUID()}`, from: phone, name: 'Noa' })),
    );
    // 2. phone JID, 3. with a device suffix
    await web({ remoteJid: `${phone}@s.whatsapp.net`, id: `A-${randomUUID()}` }, 'two');
    await web({ remoteJid: `${phone}:17@s.whatsapp.net`, id: `B-${randomUUID()}` }, 'three');
    // 4. @lid linked by remoteJidAlt, then the @lid alone
    await web(
      { remoteJid: lid, remoteJidAlt: `${phone}@s.whatsapp.net`, id: `C-${randomUUID()}` },
      'four',
    );
    await web({ remoteJid: lid, id: `D-${randomUUID()}` }, 'five');
    // 5. a national-format phone from GHL
    await invoke(
      ghl,
      tokenCall(
        '/webhooks/ghl/sms',
        JSON.stringify(ghlPayload(t, { phone: '052-765-4321', full_name: 'Noa' })),
        t.webhookToken,
      ),
    );
    const listed = await invoke(
      listConversations,
      apiCall(t.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/conversations',
        path: '/v1/conversations',
      }),
    );
    expect(listed.status).toBe(200);
    expect(listed.json.conversations).toHaveLength(1);
    expect(listed.json.conversations[0]).toMatchObject({
      conversationKey: `phone:${t.tenantId}:+${phone}`,
      displayName: 'Noa',
      displayPhone: '+972 52 765 4321',
      messageCount: 6,
    });
  });
});

describe('alias linking', () => {
  it('a Cloud API business-scoped user id seen beside wa_id routes later id-only messages to the phone', async () => {
    const t = await createTenant();
    const userId = `IL.${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    await invoke(
      whatsapp,
      cloudCall(cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '972528880001', userId })),
    );
    const hidden = await invoke(
      whatsapp,
      cloudCall(
        cloudText(t, { wamid: `wamid.${randomUUID()}`, from: '', userId, body: 'number hidden' }),
      ),
    );
    expect(hidden.json).toMatchObject({ received: 1, deduped: 0 });
    const conversations = await tenantConversations(t.tenantId);
    expect(conversations.map((c) => [c.conversationKey, c.messageCount])).toEqual([
      [`phone:${t.tenantId}:+972528880001`, 2],
    ]);
  });

  it('messages under an unlinked @lid are folded into the phone conversation once a payload links it', async () => {
    const t = await createTenant();
    const lid = `${Date.now()}77@lid`;
    const web = (key: Record<string, unknown>, text: string) =>
      invoke(
        whatsappWeb,
        tokenCall(
          '/webhooks/whatsapp-web',
          JSON.stringify(webPayload(t, key, text, 'Omer')),
          t.webhookToken,
        ),
      );
    await web({ remoteJid: lid, id: `L1-${randomUUID()}` }, 'before the link');
    let conversations = await tenantConversations(t.tenantId);
    expect(conversations).toHaveLength(1);
    expect(conversations[0]?.conversationKey).toMatch(/^alias:/);
    await web({ remoteJid: '972528880002@s.whatsapp.net', id: `L2-${randomUUID()}` }, 'by phone');
    await web(
      { remoteJid: lid, remoteJidAlt: '972528880002@s.whatsapp.net', id: `L3-${randomUUID()}` },
      'linked',
    );
    // lead_match folds the alias conversation into the phone's.
    await pollUntil(
      async () => {
        await drainQueue(sqs, queueUrl, processJob);
        conversations = await tenantConversations(t.tenantId);
        return conversations.length === 1;
      },
      { timeoutMs: 20_000, description: 'the alias conversation folded' },
    );
    expect(conversations[0]).toMatchObject({
      conversationKey: `phone:${t.tenantId}:+972528880002`,
      messageCount: 3,
    });
    const listed = await invoke(
      listConversations,
      apiCall(t.apiKey, {
        method: 'GET',
        routeKey: 'GET /v1/conversations',
        path: '/v1/conversations',
      }),
    );
    expect(listed.json.conversations[0].displayName).toBe('Omer');
  });
});
