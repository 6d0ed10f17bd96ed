/**
 * The conversations read API and leads against the real DynamoDB Local: cursor pagination, tenant
 * scoping (another tenant's ids are 404), and `PUT /v1/leads/{leadId}` attaching and merging the
 * conversations of a lead's phones.
 */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as listConversations } from '../../../functions/conversations/handlers/list-conversations.js';
import { handler as listJobs } from '../../../functions/conversations/handlers/list-jobs.js';
import { handler as listMessages } from '../../../functions/conversations/handlers/list-messages.js';
import { handler as putLead } from '../../../functions/conversations/handlers/put-lead.js';
import { handler as processJob } from '../../../functions/replies/handlers/process-job.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  apiCall,
  cloudCall,
  cloudText,
  createTenant,
  drainQueue,
  invoke,
  privateJobsQueue,
  startAiSimulator,
  type TestTenant,
} from './inbound-support.js';

let sqs: SQSClient;
let queueUrl: string;
let ai: Awaited<ReturnType<typeof startAiSimulator>>;

beforeAll(async () => {
  sqs = testSqsClient();
  queueUrl = await privateJobsQueue(sqs);
  ai = await startAiSimulator();
});

afterAll(async () => {
  await ai.stop();
  sqs.destroy();
});

const conversations = (t: TestTenant, query: Record<string, string> = {}) =>
  invoke(
    listConversations,
    apiCall(t.apiKey, {
      method: 'GET',
      routeKey: 'GET /v1/conversations',
      path: '/v1/conversations',
      query,
    }),
  );

const messages = (t: TestTenant, conversationId: string, query: Record<string, string> = {}) =>
  invoke(
    listMessages,
    apiCall(t.apiKey, {
      method: 'GET',
      routeKey: 'GET /v1/conversations/{conversationId}/messages',
      path: `/v1/conversations/${conversationId}/messages`,
      pathParameters: { conversationId },
      query,
    }),
  );

const lead = (t: TestTenant, leadId: string, body: unknown) =>
  invoke(
    putLead,
    apiCall(t.apiKey, {
      method: 'PUT',
      routeKey: 'PUT /v1/leads/{leadId}',
      path: `/v1/leads/${leadId}`,
      pathParameters: { leadId },
      body: JSON.stringify(body),
    }),
  );

async function send(t: TestTenant, from: string, body = 'hello', name = 'Someone') {
  const answer = await invoke(
    whatsapp,
    cloudCall(cloudText(t, { wamid: `wamid.${randomUUID()}`, from, body, name })),
  );
  expect(answer.status).toBe(200);
}

describe('GET /v1/conversations', () => {
  it('pages with a cursor through every conversation exactly once', async () => {
    const t = await createTenant();
    for (let i = 0; i < 5; i++) await send(t, `97250111222${i}`);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await conversations(t, { limit: '2', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      expect(page.json.conversations.length).toBeLessThanOrEqual(2);
      seen.push(
        ...page.json.conversations.map((c: { conversationId: string }) => c.conversationId),
      );
      cursor = page.json.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  it('refuses a forged cursor, a cursor of another tenant, and a bad limit', async () => {
    const a = await createTenant();
    const b = await createTenant();
    await send(a, '972501112230');
    await send(a, '972501112231');
    const page = await conversations(a, { limit: '1' });
    expect(page.json.nextCursor).toEqual(expect.any(String));
    expect((await conversations(b, { cursor: page.json.nextCursor })).status).toBe(400);
    expect((await conversations(a, { cursor: 'not-a-cursor' })).status).toBe(400);
    expect((await conversations(a, { limit: '0' })).status).toBe(400);
    expect((await conversations({ ...a, apiKey: 'of_key_wrong' })).status).toBe(401);
  });

  it('answers 404 for another tenant’s conversation and message ids', async () => {
    const a = await createTenant();
    const b = await createTenant();
    await send(a, '972501112240');
    const [conversation] = (await conversations(a)).json.conversations;
    const own = await messages(a, conversation.conversationId);
    expect(own.status).toBe(200);
    const messageId = own.json.messages[0].messageId as string;
    expect((await messages(b, conversation.conversationId)).status).toBe(404);
    const jobsCall = (t: TestTenant) =>
      invoke(
        listJobs,
        apiCall(t.apiKey, {
          method: 'GET',
          routeKey: 'GET /v1/messages/{messageId}/jobs',
          path: `/v1/messages/${messageId}/jobs`,
          pathParameters: { messageId },
        }),
      );
    expect((await jobsCall(a)).status).toBe(200);
    expect((await jobsCall(b)).status).toBe(404);
    expect((await messages(a, 'c_does_not_exist')).status).toBe(404);
  });
});

describe('PUT /v1/leads/{leadId}', () => {
  it('attaches and merges the conversations of the lead’s phones; later messages land there', async () => {
    const t = await createTenant();
    await send(t, '972501113001', 'first phone', 'Avi');
    await send(t, '972501113002', 'second phone', 'Avi work');
    expect((await conversations(t)).json.conversations).toHaveLength(2);

    const answer = await lead(t, 'lead-1', {
      name: 'Avi Cohen',
      phones: ['050-111-3001', '+972501113002'],
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      leadId: 'lead-1',
      merged: 1,
      phones: ['+972501113001', '+972501113002'],
    });
    await send(t, '972501113002', 'after the merge');

    const listed = (await conversations(t)).json.conversations;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      conversationKey: `lead:${t.tenantId}:lead-1`,
      leadId: 'lead-1',
      displayName: 'Avi Cohen',
      messageCount: 3,
    });
    const thread = await messages(t, listed[0].conversationId);
    expect(thread.json.messages.map((m: { body: string }) => m.body).sort()).toEqual([
      'after the merge',
      'first phone',
      'second phone',
    ]);
    // Idempotent: the same PUT again changes nothing.
    expect(
      (await lead(t, 'lead-1', { name: 'Avi Cohen', phones: ['050-111-3001', '+972501113002'] }))
        .json,
    ).toMatchObject({
      merged: 0,
      created: false,
    });
  });

  it('lead_match attaches a new conversation to the lead owning its phone', async () => {
    const t = await createTenant();
    await lead(t, 'lead-9', { name: 'Maya', phones: ['+972501114009'] });
    await send(t, '972501114009', 'hi');
    await drainQueue(sqs, queueUrl, processJob);
    const listed = (await conversations(t)).json.conversations;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ leadId: 'lead-9', displayName: 'Maya', messageCount: 1 });
  });

  it('rejects bad phones with details', async () => {
    const t = await createTenant();
    const answer = await lead(t, 'lead-x', { phones: ['not a phone'] });
    expect(answer.status).toBe(400);
    expect(answer.json.error.details[0].field).toBe('phones.0');
  });
});
