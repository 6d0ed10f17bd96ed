import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  type ApplyStatusResult,
  applyCampaignStatus,
} from '../../../functions/campaigns/apply-status.js';
import { listCampaigns } from '../../../functions/campaigns/campaign-listing.js';
import { fanoutShard, ringFanout } from '../../../functions/campaigns/fanout.js';
import { handler as createHandler } from '../../../functions/campaigns/handlers/create-campaign.js';
import { SHARDS } from '../../../functions/campaigns/items.js';
import {
  createCampaign,
  describeCampaign,
  markRunning,
} from '../../../functions/campaigns/lifecycle.js';
import { MAX_TEMPLATE_BYTES, type SendMessageBody } from '../../../functions/campaigns/model.js';
import {
  addRecipients,
  listRecipients,
  type RecipientView,
} from '../../../functions/campaigns/recipient-pages.js';
import {
  FOLD_LAG_BOUND_MS,
  reconcileCampaign,
} from '../../../functions/campaigns/reconcile-counters.js';
import { recoverCampaigns } from '../../../functions/campaigns/recovery.js';
import { type SendOutcome, sendToRecipient } from '../../../functions/campaigns/sender.js';
import type { WhatsAppSender } from '../../../functions/campaigns/whatsapp-client.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import type { ManualClock } from '../../../functions/kernel/clock.js';
import { queueUrl, tableName } from '../../../functions/kernel/config.js';
import {
  armFailpoints,
  clearFailpoints,
  FailpointCrashError,
} from '../../../functions/kernel/failpoints.js';
import { consumeGroupsInParallel } from '../../../functions/kernel/fifo-group-consumer.js';
import {
  createTokenBucket,
  type HandedToken,
  WINDOWS_PER_EPOCH,
  windowAllowance,
} from '../../../functions/kernel/token-bucket.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { apiCall, invoke, type TestTenant } from '../conversations/inbound-support.js';
import {
  campaignWorld,
  countByStatus,
  ledgerFor as ledgerOf,
  listAll as listAllOf,
  newCampaign as newCampaignFor,
  simClient as simClientOf,
  startWhatsAppSimulator,
  TEMPLATE,
  type TestCampaignDeps,
  testFanoutDeps,
  testSenderDeps,
} from './campaign-support.js';
import { foldCaughtUp, foldedTotals } from './shared-fold.js';

let clock: ManualClock;
let deps: TestCampaignDeps;
let tenant: Tenant;
let testTenant: TestTenant;
let simUrl: string;

beforeAll(async () => {
  ({ clock, deps, tenant, testTenant } = await campaignWorld());
  const sim = await startWhatsAppSimulator('it');
  simUrl = sim.url;
  afterAll(() => sim.close());
});

function phones(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `+97250${String(10_000_000 + from + i).slice(1)}`);
}

const newCampaign = (recipients: readonly string[], id?: string) =>
  newCampaignFor({ deps, tenant, testTenant }, recipients, id);

const listAll = (campaignId: string, status?: RecipientView['status'], limit = 100) =>
  listAllOf(deps, tenant.tenantId, campaignId, { ...(status ? { status } : {}), limit });

/** A WhatsApp status for a send in the simulator's ledger, echoing its callback data as Meta does. */
function statusWebhook(
  entry: { wamid: string; bizOpaqueCallbackData: string } | undefined,
  status: 'sent' | 'delivered' | 'read' | 'failed',
) {
  return applyCampaignStatus(deps, {
    tenantId: tenant.tenantId,
    phoneNumberId: testTenant.phoneNumberId,
    wamid: entry?.wamid ?? '',
    status,
    occurredAt: new Date(clock.now()).toISOString(),
    bizOpaqueCallbackData: entry?.bizOpaqueCallbackData ?? '',
  });
}

/** `POST /v1/campaigns` through the real handler, with the tenant's key. */
function createCall(body: string, headers: Record<string, string> = {}) {
  return invoke(
    createHandler,
    apiCall(testTenant.apiKey, {
      method: 'POST',
      routeKey: 'POST /v1/campaigns',
      path: '/v1/campaigns',
      headers,
      body,
    }),
  );
}

describe('campaign API', () => {
  it('collapses one contact written in other formats into one recipient, across pages', async () => {
    // Prepare / Act
    const id = `cmp_it_${Math.random().toString(36).slice(2)}`;
    const first = await createCampaign(deps, tenant, id, {
      name: 'Formats',
      template: TEMPLATE,
      phoneNumberId: testTenant.phoneNumberId,
      recipients: [
        { phone: '+972501234567', name: 'Dana' },
        { phone: '050-123-4567' },
        { phone: '+972 50 123 4567' },
        { phone: '+972501234568' },
      ],
    });
    const second = await addRecipients(
      deps,
      tenant,
      id,
      [{ phone: '0501234568' }, { phone: '0501234569' }],
      false,
    );
    // Assess
    expect(first).toMatchObject({ campaignId: id, recipients: 2, duplicatesCollapsed: 2 });
    expect(second).toMatchObject({ recipients: 1, duplicatesCollapsed: 1 });
    const listed = await listAll(id);
    expect(listed.map((r) => r.phone).sort()).toEqual([
      '+972501234567',
      '+972501234568',
      '+972501234569',
    ]);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(listed));
  });

  it('refuses invalid phones with details and writes nothing; skipInvalid keeps them as skipped', async () => {
    const id = `cmp_it_${Math.random().toString(36).slice(2)}`;
    const input = {
      name: 'Invalid',
      template: TEMPLATE,
      phoneNumberId: testTenant.phoneNumberId,
      recipients: [{ phone: '+972501234567' }, { phone: 'not a phone' }, { phone: '123' }],
    };
    await expect(createCampaign(deps, tenant, id, input)).rejects.toMatchObject({
      status: 400,
      details: [
        { field: 'recipients.1.phone', message: expect.any(String) },
        { field: 'recipients.2.phone', message: expect.any(String) },
      ],
    });
    await expect(describeCampaign(deps, tenant.tenantId, id)).rejects.toMatchObject({
      status: 404,
    });

    const kept = await createCampaign(deps, tenant, id, { ...input, skipInvalid: true });
    expect(kept).toMatchObject({ recipients: 1, skipped: 2, duplicatesCollapsed: 0 });
    // Totals are folded from the change feed: read once it is folded.
    await foldCaughtUp();
    const { totals } = await describeCampaign(deps, tenant.tenantId, id);
    expect(totals).toMatchObject({ recipients: 3, pending: 1, skipped: 2 });
    expect(totals).toEqual(countByStatus(await listAll(id)));
  });

  it('refuses a phoneNumberId the tenant does not own', async () => {
    await expect(
      createCampaign(deps, tenant, 'cmp_it_foreign', {
        name: 'x',
        template: TEMPLATE,
        phoneNumberId: 'someone-else',
        recipients: [],
      }),
    ).rejects.toMatchObject({ status: 400, details: [{ field: 'phoneNumberId' }] });
  });

  it('a template too large for the campaign item is a 400 naming the limit, and nothing is written', async () => {
    const create = (template: unknown, name: string) =>
      createCall(
        JSON.stringify({
          name,
          template,
          phoneNumberId: testTenant.phoneNumberId,
          recipients: [{ phone: '+972501234000' }],
        }),
      );
    const withText = (chars: number) => ({
      ...TEMPLATE,
      components: [{ type: 'body', parameters: [{ type: 'text', text: 'x'.repeat(chars) }] }],
    });
    // ~450 KB: under the 1 MiB body limit, over DynamoDB's 400 KB item limit.
    const huge = await create(withText(450_000), `huge-${testTenant.tenantId}`);
    expect(huge.status).toBe(400);
    expect(huge.json.error.code).toBe('invalid_request');
    expect(huge.json.error.details).toEqual([
      {
        field: 'template',
        message: `must be at most ${MAX_TEMPLATE_BYTES} bytes (64 KiB) of JSON`,
      },
    ]);
    // The largest legitimate template message (a lone 32,768-character body parameter) is taken.
    expect((await create(withText(32_768), `large-${testTenant.tenantId}`)).status).toBe(201);
    const listed = await listCampaigns(deps, tenant.tenantId, {
      limit: 50,
      configuredRate: 80,
      providerTimeoutSeconds: 30,
    });
    const names = listed.campaigns.map((c) => c.name);
    expect(names).toContain(`large-${testTenant.tenantId}`);
    expect(names).not.toContain(`huge-${testTenant.tenantId}`);
  });

  it('adds pages only while a draft; start is idempotent', async () => {
    const id = await newCampaign(phones(3));
    await markRunning(deps, tenant.tenantId, id);
    const again = await markRunning(deps, tenant.tenantId, id);
    expect(again.status).toBe('running');
    await expect(
      addRecipients(deps, tenant, id, [{ phone: '+972509999999' }], false),
    ).rejects.toMatchObject({
      status: 409,
    });
  });

  it('lists with a cursor and a status filter, agreeing with the totals', async () => {
    const id = await newCampaign(phones(250, 5000));
    const all = await listAll(id, undefined, 37);
    expect(new Set(all.map((r) => r.phone)).size).toBe(250);
    expect(await listAll(id, 'pending', 60)).toHaveLength(250);
    expect(await listAll(id, 'sent')).toHaveLength(0);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(all));
    await expect(
      listRecipients(deps, tenant.tenantId, id, { limit: 10, cursor: 'garbage' }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it('replays a create with the same Idempotency-Key, and refuses the key with another body', async () => {
    const body = JSON.stringify({
      name: 'Replay',
      template: TEMPLATE,
      phoneNumberId: testTenant.phoneNumberId,
      recipients: [{ phone: '+972501111111' }, { phone: '0501111111' }],
    });
    const call = (raw: string) =>
      createCall(raw, { 'idempotency-key': `key-${testTenant.tenantId}` });
    const first = await call(body);
    const second = await call(body);
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ recipients: 1, duplicatesCollapsed: 1 });
    expect(second.status).toBe(201);
    expect(second.json).toEqual(first.json);
    const other = await call(body.replace('Replay', 'Other'));
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('idempotency_key_mismatch');
  });

  it('a key reused with another body after it expired starts a new campaign', async () => {
    const key = `expired-${testTenant.tenantId}`;
    const call = (name: string, phone: string) =>
      createCall(
        JSON.stringify({
          name,
          template: TEMPLATE,
          phoneNumberId: testTenant.phoneNumberId,
          recipients: [{ phone }],
        }),
        { 'idempotency-key': key },
      );
    const first = await call('Monday', '+972501212121');
    expect(first.status).toBe(201);
    const firstId = first.json.campaignId as string;
    await markRunning(deps, tenant.tenantId, firstId);
    // The key's record expires (kept at least 24 h): forget it as its TTL would.
    const { ScanCommand, DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
    const records = await ddb.send(new ScanCommand({ TableName: tableName('idempotency') }));
    for (const item of records.Items ?? []) {
      if (JSON.stringify(item).includes(firstId)) {
        await ddb.send(
          new DeleteCommand({ TableName: tableName('idempotency'), Key: { id: item.id } }),
        );
      }
    }
    const later = await call('Thursday', '+972501313131');
    expect(later.status).toBe(201);
    expect(later.json.campaignId).not.toBe(firstId);
    const described = await describeCampaign(deps, tenant.tenantId, later.json.campaignId);
    expect(described).toMatchObject({ name: 'Thursday', status: 'draft' });
    expect((await listAll(firstId)).map((r) => r.phone)).toEqual(['+972501212121']);
  });
});

const senderDeps = (whatsapp: WhatsAppSender, owner: string) =>
  testSenderDeps(deps, whatsapp, owner);

const simClient = () => simClientOf(simUrl);
const ledgerFor = (campaignId: string) => ledgerOf(simUrl, campaignId);

/** Merges into the simulator's armed faults; `null` clears them. */
async function setFaults(faults: Record<string, number> | null) {
  await fetch(`${simUrl}/_sim/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ whatsapp: faults }),
  });
}

describe('sending', () => {
  it('sends once per contact however often the doorbell rings, storing the wamid', async () => {
    const id = await newCampaign(phones(5, 9000));
    await markRunning(deps, tenant.tenantId, id);
    const sender = senderDeps(simClient(), 'w1');
    const bodies: SendMessageBody[] = phones(5, 9000).map((phone) => ({
      tenantId: tenant.tenantId,
      campaignId: id,
      phone,
    }));
    // Every message delivered three times, concurrently.
    const outcomes = await Promise.all(
      [...bodies, ...bodies, ...bodies].map((b, i) =>
        sendToRecipient({ ...sender, owner: `w${i}` }, b),
      ),
    );
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(5);
    const ledger = await ledgerFor(id);
    expect(ledger).toHaveLength(5);
    const listed = await listAll(id);
    expect(
      listed.every((r) => r.status === 'sent' && r.providerMessageId && r.attempts === 1),
    ).toBe(true);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(listed));
  });

  it('books the send tokens of a batch with one write, and none for a contact already sent', async () => {
    // Prepare: ten contacts, each its own message group of one batch; the first already sent.
    const contacts = phones(10, 9300);
    const id = await newCampaign(contacts);
    await markRunning(deps, tenant.tenantId, id);
    const body = (phone: string) => ({ tenantId: tenant.tenantId, campaignId: id, phone });
    expect(await sendToRecipient(senderDeps(simClient(), 'w-first'), body(contacts[0] ?? ''))).toBe(
      'sent',
    );
    let tokenWrites = 0;
    let tokensHanded = 0;
    const tokens = createTokenBucket({
      ddb: {
        send: (command: Parameters<typeof ddb.send>[0]) => {
          tokenWrites++;
          return ddb.send(command);
        },
      } as typeof ddb,
      table: tableName('campaigns'),
      onToken: () => {
        tokensHanded++;
      },
    });
    const outcomes: SendOutcome[] = [];
    const consume = consumeGroupsInParallel({
      queue: 'sends',
      schema: z.object({ tenantId: z.string(), campaignId: z.string(), phone: z.string() }),
      handle: async (message) => {
        const sender = testSenderDeps(deps, simClient(), `b-${message.messageId}`, { tokens });
        outcomes.push(await sendToRecipient(sender, message.body, message.batch));
      },
    });
    const record = (phone: string, i: number): SQSRecord => ({
      messageId: `m${i}`,
      receiptHandle: `rh${i}`,
      body: JSON.stringify(body(phone)),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 'x',
        ApproximateFirstReceiveTimestamp: '0',
        // The campaign's own group shape (`sendGroupOf`): the sender books for its campaign's records.
        MessageGroupId: `${id}.${i}`,
        MessageDeduplicationId: `m${i}`,
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:onceflow-sends.fifo',
      awsRegion: 'us-east-1',
    });
    // Act
    const response = await consume({ Records: contacts.map(record) });
    // Assess: nine sent, one skipped; nine tokens for one write (two or three when a take came
    // after its place's window ended on a busy machine; nine a token apiece).
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(9);
    expect(outcomes.filter((o) => o === 'skipped')).toHaveLength(1);
    expect(tokenWrites).toBeLessThanOrEqual(3);
    expect(tokensHanded).toBe(9);
    expect(await ledgerFor(id)).toHaveLength(10);
  });

  it('a status without the echo finds its recipient by wamid (keys-only index), only in its own tenant', async () => {
    // Prepare: one contact sent, its wamid stored.
    const [phone = ''] = phones(1, 9200);
    const id = await newCampaign([phone]);
    await markRunning(deps, tenant.tenantId, id);
    const message = { tenantId: tenant.tenantId, campaignId: id, phone };
    expect(await sendToRecipient(senderDeps(simClient(), 'w-index'), message)).toBe('sent');
    const [entry] = await ledgerFor(id);
    const delivered = (tenantId: string) =>
      applyCampaignStatus(deps, {
        tenantId,
        phoneNumberId: testTenant.phoneNumberId,
        wamid: entry?.wamid ?? '',
        status: 'delivered',
        occurredAt: new Date(clock.now()).toISOString(),
        bizOpaqueCallbackData: '',
      });
    // Act / Assess: another tenant (whose id the real one starts with) never matches it.
    expect(await delivered(`${tenant.tenantId.slice(0, -1)}`)).toEqual({
      matched: false,
      applied: false,
    });
    expect(await delivered(tenant.tenantId)).toEqual({ matched: true, applied: true });
    const listed = await listAll(id);
    expect(listed.map((r) => r.status)).toEqual(['delivered']);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(listed));
  });

  it('a lost answer leaves the recipient sending without wamid until the status echo completes it', async () => {
    const [phone = ''] = phones(1, 9100);
    const id = await newCampaign([phone]);
    await markRunning(deps, tenant.tenantId, id);
    await setFaults({ lostResponseRate: 1 });
    try {
      const outcome = await sendToRecipient(senderDeps(simClient(), 'w1'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      });
      expect(outcome).toBe('unknown');
    } finally {
      await setFaults(null);
    }
    const key = { tenantId: tenant.tenantId, campaignId: id, phone: phone };
    expect(await deps.store.recipients.get(key)).toMatchObject({ status: 'sending' });
    expect((await deps.store.recipients.get(key))?.providerMessageId).toBeUndefined();
    // A redelivered doorbell does not send again.
    expect(
      await sendToRecipient(senderDeps(simClient(), 'w2'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('skipped');
    const [accepted] = await ledgerFor(id);
    expect(accepted).toBeDefined();
    const result = await statusWebhook(accepted, 'delivered');
    expect(result).toEqual({ matched: true, applied: true });
    expect(await deps.store.recipients.get(key)).toMatchObject({
      status: 'delivered',
      providerMessageId: accepted?.wamid,
    });
    expect(await ledgerFor(id)).toHaveLength(1);
  });

  it('with no evidence and unknownOutcome retry_once, recovery releases an unknown outcome once after the window, recorded', async () => {
    const [phone = ''] = phones(1, 9200);
    const id = await newCampaign([phone]);
    await markRunning(deps, tenant.tenantId, id);
    const lost: WhatsAppSender = {
      sendTemplate: async () => ({ kind: 'unknown', reason: 'timeout' }),
    };
    expect(
      await sendToRecipient(senderDeps(lost, 'w1'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('unknown');
    const recovery = {
      ...testFanoutDeps(deps, { sends: queueUrl('sends'), fanout: queueUrl('fanout') }),
      reconcileWindowSeconds: 600,
      messagesPerSecond: async () => 80,
      // The tenant opted in (the default, `hold`, is tested in campaign-correctness.test.ts).
      unknownOutcome: async () => 'retry_once' as const,
      sendsQueueIsEmpty: async () => false,
    };
    const key = { tenantId: tenant.tenantId, campaignId: id, phone: phone };
    // Inside the window nothing happens.
    clock.advance(300_000);
    await recoverCampaigns(recovery);
    expect(await deps.store.recipients.get(key)).toMatchObject({ status: 'sending' });
    // After it, one recorded retry.
    clock.advance(301_000);
    await recoverCampaigns(recovery);
    const released = await deps.store.recipients.get(key);
    expect(released).toMatchObject({ status: 'pending', unknownRetries: 1, attempts: 1 });
    expect(released?.lastError).toMatch(/outcome unknown/);
    expect(
      await sendToRecipient(senderDeps(simClient(), 'w2'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('sent');
    expect(await deps.store.recipients.get(key)).toMatchObject({
      status: 'sent',
      attempts: 2,
    });
    expect(await ledgerFor(id)).toHaveLength(1);
    await drainSendsFor(id);
  });

  it('classifies refusals: a permanent error fails the contact with lastError', async () => {
    const [phone = ''] = phones(1, 9300);
    const id = `cmp_it_${Math.random().toString(36).slice(2)}`;
    await createCampaign(deps, tenant, id, {
      name: 'Bad template',
      template: { name: 'missing_template', language: 'en_US' },
      phoneNumberId: testTenant.phoneNumberId,
      recipients: [{ phone }],
    });
    await markRunning(deps, tenant.tenantId, id);
    expect(
      await sendToRecipient(senderDeps(simClient(), 'w1'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('failed');
    const [recipient] = await listAll(id);
    expect(recipient).toMatchObject({
      status: 'failed',
      lastError: expect.stringMatching(/^132001/),
    });
  });
});

describe('status webhooks', () => {
  it('duplicated and reordered statuses never move a recipient backward', async () => {
    const all = phones(30, 9400);
    const id = await newCampaign(all);
    await markRunning(deps, tenant.tenantId, id);
    await Promise.all(
      all.map((phone, i) =>
        sendToRecipient(senderDeps(simClient(), `w${i}`), {
          tenantId: tenant.tenantId,
          campaignId: id,
          phone,
        }),
      ),
    );
    const ledger = await ledgerFor(id);
    expect(ledger).toHaveLength(30);
    const order = ['sent', 'delivered', 'read'] as const;
    // The highest status each contact (by ledger index) was ever told.
    const highestTold = new Map<number, (typeof order)[number]>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 29 }), fc.constantFrom(...order)), {
          minLength: 5,
          maxLength: 40,
        }),
        async (events) => {
          for (const [i, status] of events) {
            const before = highestTold.get(i) ?? 'sent';
            if (order.indexOf(status) > order.indexOf(before)) highestTold.set(i, status);
          }
          const results: ApplyStatusResult[] = await Promise.all(
            events.map(([i, status]) => statusWebhook(ledger[i], status)),
          );
          expect(results.every((r) => r.matched)).toBe(true);
        },
      ),
      { numRuns: 15 },
    );
    // Each recipient ends at the highest status it was ever told, however they arrived.
    const byPhone = new Map((await listAll(id)).map((r) => [r.phone, r.status]));
    ledger.forEach((entry, i) => {
      expect(byPhone.get(`+${entry.to}`)).toBe(highestTold.get(i) ?? 'sent');
    });
    // A late `sent` after `read` changes nothing.
    const first = ledger[0];
    expect(await statusWebhook(first, 'read')).toMatchObject({ matched: true });
    expect(await statusWebhook(first, 'sent')).toEqual({ matched: true, applied: false });
    expect((await listAll(id)).find((r) => r.phone === `+${first?.to}`)?.status).toBe('read');
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(
      countByStatus(await listAll(id)),
    );
    // Reconciliation compares a shard only once it was left alone for the fold's lag bound.
    clock.advance(FOLD_LAG_BOUND_MS + 1000);
    expect(
      await reconcileCampaign(deps, { tenantId: tenant.tenantId, campaignId: id }),
    ).toMatchObject({
      drift: 0,
      inconclusiveShards: 0,
    });
  });
});

async function drainSendsFor(campaignId: string): Promise<Set<string>> {
  const phonesSeen = new Set<string>();
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl('sends'),
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty += 1;
      continue;
    }
    for (const m of messages) {
      const body = JSON.parse(m.Body ?? '{}') as SendMessageBody;
      if (body.campaignId === campaignId) phonesSeen.add(body.phone);
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl('sends'),
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  return phonesSeen;
}

describe('fan-out', () => {
  it('resumes after crashing half-way and rings every pending recipient', async () => {
    const all = phones(400, 20_000);
    const id = await newCampaign(all);
    const campaign = await markRunning(deps, tenant.tenantId, id);
    const fanout = testFanoutDeps(deps, { sends: queueUrl('sends'), fanout: queueUrl('fanout') });
    await drainSendsFor('none');
    // Every shard crashes after its first page once, then runs again from its saved cursor.
    for (let shard = 0; shard < SHARDS; shard++) {
      armFailpoints({ 'campaign.fanout.after-enqueue': { probability: 1, times: 1 } });
      const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard };
      await fanoutShard(fanout, body, 80, 60_000).catch((error: unknown) => {
        if (!(error instanceof FailpointCrashError)) throw error;
      });
      clearFailpoints();
      expect((await fanoutShard(fanout, body, 80, 60_000)).done).toBe(true);
    }
    const rung = await drainSendsFor(id);
    expect(rung).toEqual(new Set(all));
    // Start again: fan-out is done, nothing more is rung.
    expect(await ringFanout(fanout, campaign, 'again')).toBe(0);
  });
});

describe('campaign create through crashes', () => {
  it.each([
    ['campaign.create.after-meta', 'after the campaign item, before any recipient'],
    ['campaign.recipients.after-chunk', 'after one transaction of recipients, before the rest'],
  ])(
    'a create crashed at %s (%s) and retried holds each contact once, counted once',
    async (point) => {
      // Prepare: 300 contacts spread over every shard, so a page takes many transactions.
      const id = `cmp_it_${Math.random().toString(36).slice(2)}`;
      const recipients = Array.from({ length: 300 }, (_, i) => ({
        phone: `+97250${String(3000000 + i).padStart(7, '0')}`,
      }));
      const input = {
        name: 'Crash',
        template: TEMPLATE,
        phoneNumberId: testTenant.phoneNumberId,
        recipients,
      };
      armFailpoints({ [point]: { probability: 1, times: 1 } });
      // Act: the first attempt crashes part-way; the caller retries the same request.
      try {
        await expect(createCampaign(deps, tenant, id, input)).rejects.toBeInstanceOf(
          FailpointCrashError,
        );
      } finally {
        clearFailpoints();
      }
      const retried = await createCampaign(deps, tenant, id, input);
      // Assess
      const listed = await listAll(id);
      expect(new Set(listed.map((r) => r.phone)).size).toBe(300);
      expect(listed).toHaveLength(300);
      expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(listed));
      expect(retried.campaignId).toBe(id);
    },
  );
});

describe('token bucket', () => {
  it('keeps concurrent takers within the rate in every window', async () => {
    const bucket = createTokenBucket({ ddb, table: tableName('campaigns') });
    const name = `test-${Math.random().toString(36).slice(2)}`;
    const startedAt = Date.now();
    const times = await Promise.all(
      Array.from({ length: 120 }, async () => {
        expect(await bucket.take(name, 100)).toBe(true);
        return Date.now();
      }),
    );
    // 120 tokens at 100/s: the first 10 windows hold at most 100.
    expect(Math.max(...times) - startedAt).toBeGreaterThanOrEqual(150);
    const perSecond = new Map<number, number>();
    for (const t of times)
      perSecond.set(
        Math.floor((t - startedAt) / 1000),
        (perSecond.get(Math.floor((t - startedAt) / 1000)) ?? 0) + 1,
      );
    for (const count of perSecond.values()) expect(count).toBeLessThanOrEqual(110);
  });

  it('keeps batches booked by concurrent processes within each window allowance, each place used once', async () => {
    // Trials of 4 processes (bucket instances, each its own pool and hints) running 3 batches of 10
    // back to back against DynamoDB Local, each take told how many of its batch still need one; at
    // 50/s (one queue, 5 places a window) and 250/s (three queues of 8 or 9 a window). Each trial's
    // clock starts a quarter of a second before an epoch ends: batches meet counters booked to
    // their end (a batch booked past it would put places in the next epoch's windows).
    let writes = 0;
    const counting = {
      send: (command: Parameters<typeof ddb.send>[0]) => {
        writes++;
        return ddb.send(command);
      },
    } as typeof ddb;
    for (let trial = 0; trial < 6; trial++) {
      const rate = trial % 2 === 0 ? 50 : 250;
      const name = `test-${Math.random().toString(36).slice(2)}`;
      const handed: (HandedToken & { handedAt: number })[] = [];
      const epochMs = WINDOWS_PER_EPOCH * 100;
      const offset = epochMs - 250 - (Date.now() % epochMs);
      const now = () => Date.now() + offset;
      const processes = Array.from({ length: 4 }, () =>
        createTokenBucket({
          ddb: counting,
          table: tableName('campaigns'),
          now,
          onToken: (token) => handed.push({ ...token, handedAt: now() }),
        }),
      );
      writes = 0;
      await Promise.all(
        processes.map(async (bucket) => {
          for (let batch = 0; batch < 3; batch++) {
            let open = 10;
            const got = await Promise.all(
              Array.from({ length: 10 }, async () => {
                const token = await bucket.take(name, rate, { ahead: open - 1 });
                open -= 1;
                return token;
              }),
            );
            expect(got.every(Boolean)).toBe(true);
          }
        }),
      );
      const label = `trial ${trial} at ${rate}/s`;
      expect(handed, label).toHaveLength(120);
      // Each place of each queue handed out once, inside its own epoch; no window over its allowance.
      const places = handed.map((t) => `${t.epoch}#${t.shard}#${t.place}`);
      expect(new Set(places).size, label).toBe(120);
      const perWindow = new Map<number, number>();
      for (const t of handed) {
        expect(Math.floor(t.window / WINDOWS_PER_EPOCH), label).toBe(t.epoch);
        perWindow.set(t.window, (perWindow.get(t.window) ?? 0) + 1);
        // Handed out before its window ended (a few ms for the callback on a busy machine).
        expect(t.handedAt, label).toBeLessThan((t.window + 1) * 100 + 5);
      }
      for (const [window, count] of perWindow)
        expect(count, label).toBeLessThanOrEqual(windowAllowance(window, rate, 100));
      // A batch is about one write: 12 batches, with a refusal now and then.
      expect(writes, label).toBeLessThan(40);
    }
  }, 60_000);

  it('hands out no slot twice across an epoch boundary, whoever books first', async () => {
    // 10/s: one token a window. The bucket's clock starts 3 s before an epoch ends, so the first
    // 60 takers need 30 of this epoch's places and 30 of the next's; 30 more arrive just after the
    // boundary and book the next epoch from its start. A place past an epoch's end mapped into the
    // next epoch's time would meet those: two tokens a window.
    const rate = 10;
    const epochMs = WINDOWS_PER_EPOCH * 100;
    const offset = epochMs - 3_000 - (Date.now() % epochMs);
    const now = () => Date.now() + offset;
    const bucket = createTokenBucket({
      ddb,
      table: tableName('campaigns'),
      now,
      maxWaitMs: 30_000,
    });
    const name = `test-${Math.random().toString(36).slice(2)}`;
    const take = async () => {
      expect(await bucket.take(name, rate)).toBe(true);
      return now();
    };
    const first = Array.from({ length: 60 }, take);
    await new Promise((r) => setTimeout(r, 3_100));
    const second = Array.from({ length: 30 }, take);
    const times = await Promise.all([...first, ...second]);
    expect(times).toHaveLength(90);
    // In any second, the rate: a token may be used anywhere in its window when its answer came
    // late, and a timer may fire late on a busy machine, so one window's worth and one more of slack.
    // Two slots handed out for one window would put ~20 in the seconds after the boundary.
    const sorted = times.sort((a, b) => a - b);
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while ((sorted[i] ?? 0) - (sorted[j] ?? 0) >= 1000) j++;
      expect(i - j + 1).toBeLessThanOrEqual(rate + windowAllowance(0, rate, 100) + 1);
    }
  }, 30_000);
});
