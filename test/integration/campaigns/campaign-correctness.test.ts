import { DynamoDBServiceException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyCampaignStatus } from '../../../functions/campaigns/apply-status.js';
import { fanoutShard, ringFanout } from '../../../functions/campaigns/fanout.js';
import { handler as retryHandler } from '../../../functions/campaigns/handlers/retry-recipient.js';
import {
  type CampaignItem,
  foldGroupOf,
  keys,
  parseCampaign,
  SHARDS,
  shardOf,
} from '../../../functions/campaigns/items.js';
import {
  createCampaign,
  describeCampaign,
  markRunning,
  pauseCampaign,
  resumeCampaign,
} from '../../../functions/campaigns/lifecycle.js';
import {
  MAX_RECIPIENTS_PER_CAMPAIGN,
  type SendMessageBody,
  type UnknownOutcomePolicy,
} from '../../../functions/campaigns/model.js';
import { retryUnknownRecipient } from '../../../functions/campaigns/operator-retry.js';
import { addRecipients } from '../../../functions/campaigns/recipient-pages.js';
import {
  FOLD_LAG_BOUND_MS,
  reconcileCampaign,
  reconcileCampaignCounters,
} from '../../../functions/campaigns/reconcile-counters.js';
import {
  IN_FLIGHT_RECHECK_MS,
  inFlightRecheckDue,
  recoverCampaigns,
} from '../../../functions/campaigns/recovery.js';
import { sendToRecipient } from '../../../functions/campaigns/sender.js';
import type { WhatsAppSender } from '../../../functions/campaigns/whatsapp-client.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import type { ManualClock } from '../../../functions/kernel/clock.js';
import { queueUrl, tableName } from '../../../functions/kernel/config.js';
import { InvalidRequestError } from '../../../functions/kernel/errors.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { envNameForQueue } from '../../../lib/manifest.js';
import { raceTrials } from '../../support/race.js';
import { apiCall, invoke, type TestTenant } from '../conversations/inbound-support.js';
import {
  campaignWorld,
  countByStatus,
  ledgerFor as ledgerOf,
  listAll as listAllOf,
  newCampaign as newCampaignFor,
  privateFifoQueue,
  readStored,
  simClient as simClientOf,
  startWhatsAppSimulator,
  TEMPLATE,
  type TestCampaignDeps,
  testFanoutDeps,
  testRecoveryDeps,
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
  const sim = await startWhatsAppSimulator('itc');
  simUrl = sim.url;
  // This file's own `sends` queue: other files drain the shared one.
  sendsUrl = await privateFifoQueue('sends', { visibilityTimeoutSeconds: 60, maxReceiveCount: 10 });
  process.env[envNameForQueue('sends')] = sendsUrl;
  afterAll(() => sim.close());
});

afterEach(() => {
  vi.restoreAllMocks();
});

let phoneSeq = 0;
function phones(count: number): string[] {
  const from = 40_000_000 + Math.floor(Math.random() * 50_000_000) + phoneSeq;
  phoneSeq += count;
  return Array.from({ length: count }, (_, i) => `+9725${String(from + i).padStart(8, '0')}`);
}

const newId = () => `cmp_itc_${Math.random().toString(36).slice(2)}`;

const newCampaign = (recipients: readonly string[], id = newId()) =>
  newCampaignFor({ deps, tenant, testTenant }, recipients, id);

const listAll = (campaignId: string) =>
  listAllOf(deps, tenant.tenantId, campaignId, { limit: 200 });

/** The real `send`, kept so a wrapper can pass everything else through. */
// biome-ignore lint/suspicious/noExplicitAny: the wrapper passes any command through untouched
const realSend = ddb.send.bind(ddb) as (command: unknown) => Promise<any>;

/** Answers `TransactGetItems` as DynamoDB does while any of its items has a write in flight. */
function transactGetsAlwaysConflict() {
  return vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
    if (command instanceof TransactGetCommand) {
      throw new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
        $metadata: {},
        CancellationReasons: (command.input.TransactItems ?? []).map(() => ({
          Code: 'TransactionConflict',
          Message: 'Transaction is ongoing for the item',
        })),
      });
    }
    return realSend(command);
  }) as never);
}

/** The handler's sender; the campaign is read past any wrapper of `send` a test installed. */
const senderDeps = (whatsapp: WhatsAppSender, owner: string) =>
  testSenderDeps(deps, whatsapp, owner, {
    campaign: async (tenantId, campaignId) => {
      const out = await realSend(
        new GetCommand({
          TableName: table(),
          Key: keys.campaign(tenantId, campaignId),
          ConsistentRead: true,
        }),
      );
      return out.Item ? parseCampaign(out.Item) : undefined;
    },
  });

const simClient = () => simClientOf(simUrl);

const lostAnswer: WhatsAppSender = {
  sendTemplate: async () => ({ kind: 'unknown', reason: 'timeout' }),
};

const fanoutDeps = () => testFanoutDeps(deps, { sends: sendsUrl, fanout: queueUrl('fanout') });

const recoveryDeps = (policy: UnknownOutcomePolicy = 'hold') =>
  testRecoveryDeps(fanoutDeps(), policy);

let sendsUrl = '';

const table = () => tableName('campaigns');

async function setVisible(messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: sendsUrl,
        Entries: messages.slice(i, i + 10).map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle ?? '',
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

/**
 * Receives every receivable sends message of `campaignId`. With `hold`, they are kept in flight
 * (as a consumer that died holding them would); else each batch is deleted as it comes.
 */
async function receiveFor(campaignId: string, hold = false): Promise<Message[]> {
  const mine: Message[] = [];
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: sendsUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 30,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty += 1;
      continue;
    }
    const batch = messages.filter(
      (m) => (JSON.parse(m.Body ?? '{}') as SendMessageBody).campaignId === campaignId,
    );
    mine.push(...batch);
    const others = messages.filter((m) => !batch.includes(m));
    // Other campaigns' doorbells are not ours to take: dropped (their tests drive their senders).
    const drop = hold ? others : messages;
    if (drop.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: sendsUrl,
          Entries: drop.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
  return mine;
}

const ledgerFor = (campaignId: string) => ledgerOf(simUrl, campaignId);

describe('a recipient page counts each contact once, within the campaign cap', () => {
  it('the same invalid phone twice in one page with skipInvalid is one skipped item, counted once', async () => {
    // DynamoDB refuses a transaction that touches one item twice; DynamoDB Local does not.
    const transactions: number[] = [];
    vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
      if (command instanceof TransactWriteCommand) {
        const keys = (command.input.TransactItems ?? []).map((t) => {
          const key = t.Put?.Item ?? t.Update?.Key ?? t.ConditionCheck?.Key ?? t.Delete?.Key ?? {};
          return `${String(key.pk)}|${String(key.sk)}`;
        });
        transactions.push(keys.length);
        if (new Set(keys).size !== keys.length) {
          throw new DynamoDBServiceException({
            name: 'ValidationException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
            message: 'Transaction request cannot include multiple operations on one item',
          });
        }
      }
      return realSend(command);
    }) as never);
    const id = newId();
    const [good = ''] = phones(1);
    const result = await createCampaign(deps, tenant, id, {
      name: 'Dupes',
      template: TEMPLATE,
      phoneNumberId: testTenant.phoneNumberId,
      recipients: [{ phone: 'not-a-phone' }, { phone: good }, { phone: 'not-a-phone' }],
      skipInvalid: true,
    });
    expect(transactions.length).toBeGreaterThan(0);
    expect(result).toMatchObject({ recipients: 1, skipped: 1, duplicatesCollapsed: 1 });
    vi.restoreAllMocks();
    const listed = await listAll(id);
    expect(listed).toHaveLength(2);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(countByStatus(listed));
    expect((await foldedTotals(deps.store, tenant.tenantId, id)).skipped).toBe(1);
  });

  it('the 1,000,000 cap is a condition: two pages racing for the last room never both land', async () => {
    const report = await raceTrials({
      trials: 6,
      setup: async () => {
        const id = await newCampaign(phones(1));
        // The campaign is 3 short of its cap (as the page transactions would have held it).
        await realSend(
          new UpdateCommand({
            TableName: table(),
            Key: keys.campaign(tenant.tenantId, id),
            UpdateExpression: 'SET recipientsHeld = :h',
            ExpressionAttributeValues: { ':h': MAX_RECIPIENTS_PER_CAMPAIGN - 3 },
          }),
        );
        return { id, pages: [phones(2), phones(2)] };
      },
      contenders: ({ id, pages }) =>
        pages.map(
          (page) => () =>
            addRecipients(
              deps,
              tenant,
              id,
              page.map((phone) => ({ phone })),
              false,
            ),
        ),
      check: async ({ id }, outcomes) => {
        const landed = outcomes.filter((o) => o.status === 'fulfilled');
        expect(landed).toHaveLength(1);
        const refused = outcomes.find((o) => o.status === 'rejected');
        expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(InvalidRequestError);
        const campaign = (
          await realSend(
            new GetCommand({ TableName: table(), Key: keys.campaign(tenant.tenantId, id) }),
          )
        ).Item as CampaignItem;
        expect(campaign.recipientsHeld).toBe(MAX_RECIPIENTS_PER_CAMPAIGN - 1);
        expect(await listAll(id)).toHaveLength(3);
      },
    });
    expect(report.failures).toEqual([]);
  });
});

/** Fans a running campaign out on every shard and sends to each contact once. */
async function fanOutAndSendAll(id: string, contacts: readonly string[]): Promise<void> {
  for (let shard = 0; shard < SHARDS; shard++) {
    const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard };
    expect((await fanoutShard(fanoutDeps(), body, 80, 60_000)).done).toBe(true);
  }
  await receiveFor(id);
  for (const phone of contacts) {
    await sendToRecipient(senderDeps(simClient(), `w-${phone}`), {
      tenantId: tenant.tenantId,
      campaignId: id,
      phone,
    });
  }
}

describe('totals and reconciliation hold without transactional reads', () => {
  it('totals, fan-out, completion and reconciliation work while every TransactGet is cancelled', async () => {
    const contacts = phones(6);
    const id = await newCampaign(contacts);
    const campaign = await markRunning(deps, tenant.tenantId, id);
    transactGetsAlwaysConflict();

    // Totals are folded from the change feed: read once it is folded.
    await foldCaughtUp();
    const described = await describeCampaign(deps, tenant.tenantId, id);
    expect(described.totals).toMatchObject({ recipients: 6, pending: 6 });

    await fanOutAndSendAll(id, contacts);
    // Completion is seen by the recovery run after the fold (folded counts, then the recipients).
    await foldCaughtUp();
    const report = await recoverCampaigns(recoveryDeps());
    expect(report.failedCampaigns).toBe(0);
    const after = await describeCampaign(deps, tenant.tenantId, id);
    expect(after.status).toBe('completed');
    expect(after.totals).toEqual(countByStatus(await listAll(id)));
    clock.advance(FOLD_LAG_BOUND_MS + 1000);
    expect(await reconcileCampaign(deps, campaign)).toMatchObject({
      drift: 0,
      inconclusiveShards: 0,
    });
    await receiveFor(id);
  });

  it('one campaign that cannot be reconciled does not stop the others', async () => {
    const broken = await newCampaign(phones(2));
    const healthy = await newCampaign(phones(2));
    await markRunning(deps, tenant.tenantId, broken);
    await markRunning(deps, tenant.tenantId, healthy);
    vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
      const input = (command as { input?: { ExpressionAttributeValues?: Record<string, unknown> } })
        .input;
      const pk = input?.ExpressionAttributeValues?.[':pk'];
      if (typeof pk === 'string' && pk.includes(`#${broken}#`)) {
        throw new Error('simulated failure reading one campaign');
      }
      return realSend(command);
    }) as never);
    await foldCaughtUp();
    clock.advance(FOLD_LAG_BOUND_MS + 1000);
    const results = await reconcileCampaignCounters(deps);
    const ids = results.map((r) => r.campaignId);
    expect(ids).toContain(healthy);
    expect(ids).not.toContain(broken);
    expect(results.find((r) => r.campaignId === healthy)).toMatchObject({
      drift: 0,
      inconclusiveShards: 0,
    });
  });
});

describe('one unreadable campaign costs only itself', () => {
  it('a malformed campaign in the sweep index is counted and skipped; the others are recovered and reconciled', async () => {
    const contacts = phones(2);
    const id = await newCampaign(contacts);
    await markRunning(deps, tenant.tenantId, id);
    await fanOutAndSendAll(id, contacts);
    // A running campaign in the sweep list with no name and no template (a bad hand edit, an old
    // writer): the strict parser refuses it.
    const malformed = keys.campaign(tenant.tenantId, newId());
    await ddb.send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...malformed,
          tenantId: tenant.tenantId,
          campaignId: 'unreadable',
          status: 'running',
          sweepPk: keys.sweepList('active'),
          sweepAt: new Date(clock.now()).toISOString(),
        },
      }),
    );
    try {
      await foldCaughtUp();
      const report = await recoverCampaigns(recoveryDeps());
      expect(report.failedCampaigns).toBeGreaterThanOrEqual(1);
      expect((await describeCampaign(deps, tenant.tenantId, id)).status).toBe('completed');
      clock.advance(FOLD_LAG_BOUND_MS + 1000);
      const reconciled = await reconcileCampaignCounters(deps);
      expect(reconciled.find((r) => r.campaignId === id)).toMatchObject({
        drift: 0,
        inconclusiveShards: 0,
      });
    } finally {
      await ddb.send(new DeleteCommand({ TableName: table(), Key: malformed }));
    }
  });
});

describe('an accepted send is never lost to a failing write', () => {
  it('a wamid whose store keeps failing (throttled) is kept on the recipient and counted by recovery', async () => {
    const [phone = ''] = phones(1);
    const id = await newCampaign([phone]);
    await markRunning(deps, tenant.tenantId, id);
    // Every write that would move the recipient to `sent` with its wamid is throttled past the
    // SDK's own retries (the move is one conditional UpdateItem: no counter, no transaction).
    vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
      if (command instanceof UpdateCommand || command instanceof TransactWriteCommand) {
        const move = JSON.stringify(command.input);
        if (move.includes('"sent"') && move.includes('providerMessageId')) {
          throw new DynamoDBServiceException({
            name: 'ProvisionedThroughputExceededException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
            message: 'The level of configured provisioned throughput for the table was exceeded.',
          });
        }
      }
      return realSend(command);
    }) as never);
    const outcome = await sendToRecipient(senderDeps(simClient(), 'w1'), {
      tenantId: tenant.tenantId,
      campaignId: id,
      phone,
    });
    vi.restoreAllMocks();
    expect(outcome).toBe('sent');
    const [accepted] = await ledgerFor(id);
    const key = keys.recipient(tenant.tenantId, id, phone);
    expect(await readStored(key)).toMatchObject({
      status: 'sending',
      providerMessageId: accepted?.wamid,
    });
    // No clock jump: the kept wamid is due at once, and never released or sent again.
    await recoverCampaigns(recoveryDeps('retry_once'));
    expect(await readStored(key)).toMatchObject({
      status: 'sent',
      providerMessageId: accepted?.wamid,
    });
    expect(await ledgerFor(id)).toHaveLength(1);
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(
      countByStatus(await listAll(id)),
    );
  }, 60_000);
});

describe('an unknown send outcome is held, never sent again blind; late evidence wins', () => {
  async function unknownContact() {
    const [phone = ''] = phones(1);
    const id = await newCampaign([phone]);
    await markRunning(deps, tenant.tenantId, id);
    expect(
      await sendToRecipient(senderDeps(lostAnswer, 'w1'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('unknown');
    clock.advance(601_000);
    return { id, phone, key: keys.recipient(tenant.tenantId, id, phone) };
  }

  it('hold (the default): ends unknown, counted and listed, and is never sent again by itself', async () => {
    const { id, key } = await unknownContact();
    await recoverCampaigns(recoveryDeps());
    expect(await readStored(key)).toMatchObject({ status: 'unknown' });
    clock.advance(3_600_000);
    await recoverCampaigns(recoveryDeps());
    expect(await receiveFor(id)).toHaveLength(0);
    const listed = await listAll(id);
    expect(listed.map((r) => r.status)).toEqual(['unknown']);
    const totals = await foldedTotals(deps.store, tenant.tenantId, id);
    expect(totals).toEqual(countByStatus(listed));
    expect(totals.unknown).toBe(1);
  });

  it('late evidence moves an unknown contact to what the provider reports', async () => {
    const { id, phone, key } = await unknownContact();
    await recoverCampaigns(recoveryDeps());
    const applied = await applyCampaignStatus(deps, {
      tenantId: tenant.tenantId,
      phoneNumberId: testTenant.phoneNumberId,
      wamid: 'wamid.late-1',
      status: 'delivered',
      occurredAt: new Date(clock.now()).toISOString(),
      bizOpaqueCallbackData: `ofc1|${id}|${phone}`,
    });
    expect(applied).toEqual({ matched: true, applied: true });
    expect(await readStored(key)).toMatchObject({
      status: 'delivered',
      providerMessageId: 'wamid.late-1',
    });
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(
      countByStatus(await listAll(id)),
    );
  });

  it('a contact failed after two unknown outcomes (retry_once) moves to delivered when its status arrives', async () => {
    const { id, phone, key } = await unknownContact();
    await recoverCampaigns(recoveryDeps('retry_once'));
    expect(await readStored(key)).toMatchObject({ status: 'pending' });
    await receiveFor(id);
    // The retry is refused for good (the first send had in fact gone out).
    const refused: WhatsAppSender = {
      sendTemplate: async () => ({
        kind: 'rejected',
        class: 'permanent',
        httpStatus: 400,
        code: 131026,
        message: 'Message undeliverable',
      }),
    };
    expect(
      await sendToRecipient(senderDeps(refused, 'w2'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('failed');
    await applyCampaignStatus(deps, {
      tenantId: tenant.tenantId,
      phoneNumberId: testTenant.phoneNumberId,
      wamid: 'wamid.first-attempt',
      status: 'delivered',
      occurredAt: new Date(clock.now()).toISOString(),
      bizOpaqueCallbackData: `ofc1|${id}|${phone}`,
    });
    expect(await readStored(key)).toMatchObject({
      status: 'delivered',
      providerMessageId: 'wamid.first-attempt',
    });
    expect(await foldedTotals(deps.store, tenant.tenantId, id)).toEqual(
      countByStatus(await listAll(id)),
    );
  });

  it('POST …/recipients/{phone}/retry sends an unknown contact once more, deliberately; other statuses are 409', async () => {
    const { id, phone, key } = await unknownContact();
    await recoverCampaigns(recoveryDeps());
    const call = (p: string) =>
      invoke(
        retryHandler as never,
        apiCall(testTenant.apiKey, {
          method: 'POST',
          routeKey: 'POST /v1/campaigns/{campaignId}/recipients/{phone}/retry',
          path: `/v1/campaigns/${id}/recipients/${encodeURIComponent(p)}/retry`,
          pathParameters: { campaignId: id, phone: p },
        }),
      );
    const retried = await call(phone);
    expect(retried.status).toBe(202);
    expect(retried.json).toMatchObject({ phone, status: 'pending', operatorRetries: 1 });
    const rung = await receiveFor(id);
    expect(rung.map((m) => (JSON.parse(m.Body ?? '{}') as SendMessageBody).phone)).toEqual([phone]);
    expect(
      await sendToRecipient(senderDeps(simClient(), 'w3'), {
        tenantId: tenant.tenantId,
        campaignId: id,
        phone,
      }),
    ).toBe('sent');
    expect(await readStored(key)).toMatchObject({
      status: 'sent',
      attempts: 2,
      operatorRetries: 1,
    });
    const again = await call(phone);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBeDefined();
    expect((await call('not-a-phone')).status).toBe(400);
    expect((await call(phones(1)[0] ?? '')).status).toBe(404);
  });
});

describe('a paused campaign sends nothing until it is resumed', () => {
  it('a paused campaign leaves the running list, sends nothing, and resume finishes it', async () => {
    const contacts = phones(5);
    const id = await newCampaign(contacts);
    let campaign = await markRunning(deps, tenant.tenantId, id);
    await ringFanout(fanoutDeps(), campaign, 'start');
    for (let shard = 0; shard < SHARDS; shard++) {
      const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard };
      await fanoutShard(fanoutDeps(), body, 80, 60_000);
    }
    await receiveFor(id);
    await pauseCampaign(deps, tenant.tenantId, id);
    const meta = (
      await realSend(
        new GetCommand({ TableName: table(), Key: keys.campaign(tenant.tenantId, id) }),
      )
    ).Item as CampaignItem & { sweepPk?: string };
    expect(meta).toMatchObject({ status: 'paused', sweepPk: keys.sweepList('paused') });
    // The doorbells of a paused campaign are dropped, and recovery rings nothing, whatever time.
    for (const phone of contacts) {
      expect(
        await sendToRecipient(senderDeps(simClient(), `p-${phone}`), {
          tenantId: tenant.tenantId,
          campaignId: id,
          phone,
        }),
      ).toBe('paused');
    }
    clock.advance(3_600_000);
    await recoverCampaigns({ ...recoveryDeps(), sendsQueueIsEmpty: async () => true });
    expect(await receiveFor(id)).toHaveLength(0);
    expect(await ledgerFor(id)).toHaveLength(0);

    campaign = await resumeCampaign(deps, tenant.tenantId, id);
    await ringFanout(fanoutDeps(), campaign, 'resume');
    for (let shard = 0; shard < SHARDS; shard++) {
      const body = { tenantId: tenant.tenantId, campaignId: id, generation: 1, shard };
      await fanoutShard(fanoutDeps(), body, 80, 60_000);
    }
    const rung = await receiveFor(id);
    for (const m of rung) {
      await sendToRecipient(
        senderDeps(simClient(), `r-${m.MessageId}`),
        JSON.parse(m.Body ?? '{}') as SendMessageBody,
      );
    }
    await foldCaughtUp();
    await recoverCampaigns(recoveryDeps());
    expect((await describeCampaign(deps, tenant.tenantId, id)).status).toBe('completed');
    const ledger = await ledgerFor(id);
    expect(new Set(ledger.map((l) => `+${l.to}`))).toEqual(new Set(contacts));
    expect(ledger).toHaveLength(contacts.length);
  }, 60_000);
});

describe('every pending contact is attempted after a restart', () => {
  it('every pending contact is attempted after the horizon even while its old doorbells are held in flight', async () => {
    const contacts = phones(12);
    const id = await newCampaign(contacts);
    await markRunning(deps, tenant.tenantId, id);
    for (let shard = 0; shard < SHARDS; shard++) {
      const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard };
      await fanoutShard(fanoutDeps(), body, 80, 60_000);
    }
    // A consumer took every doorbell and died: they stay invisible (real time, not the clock seam),
    // and FIFO delivers nothing else of their groups meanwhile.
    const held = await receiveFor(id, true);
    expect(held.length).toBeGreaterThan(0);
    clock.advance(3_600_000);
    await recoverCampaigns(recoveryDeps());
    const rung = await receiveFor(id);
    const attempted = new Set<string>();
    for (const m of rung) {
      const body = JSON.parse(m.Body ?? '{}') as SendMessageBody;
      await sendToRecipient(senderDeps(simClient(), `x-${m.MessageId}`), body);
      attempted.add(body.phone);
    }
    expect(attempted).toEqual(new Set(contacts));
    const listed = await listAll(id);
    expect(listed.every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true);
    // The held doorbells come back later: they change nothing.
    await setVisible(held);
    for (const m of await receiveFor(id)) {
      await sendToRecipient(
        senderDeps(simClient(), `y-${m.MessageId}`),
        JSON.parse(m.Body ?? '{}') as SendMessageBody,
      );
    }
    expect(await ledgerFor(id)).toHaveLength(contacts.length);
  }, 60_000);

  it('rings a shard of several fan-out pages whose doorbells were all lost, and keeps a mark newer than the campaign it read', async () => {
    // 250 contacts of one shard: three fan-out pages of 100, so three marks with key ranges.
    const contacts: string[] = [];
    for (const phone of phones(20_000)) {
      if (shardOf(phone) === 7) contacts.push(phone);
      if (contacts.length === 250) break;
    }
    expect(contacts).toHaveLength(250);
    const id = await newCampaign(contacts);
    await markRunning(deps, tenant.tenantId, id);
    const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard: 7 };
    await fanoutShard(fanoutDeps(), body, 80, 60_000);
    expect(new Set((await receiveFor(id)).map((m) => JSON.parse(m.Body ?? '{}').phone))).toEqual(
      new Set(contacts),
    ); // taken and dropped: every doorbell lost
    // A mark of a fan-out generation the campaign has not reached (as a run that read the campaign
    // before a resume would see it), due now, over the same range.
    const newer = keys.pageMark(tenant.tenantId, id, 1, 7, 1);
    await ddb.send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...newer,
          kind: 'fanout-page',
          tenantId: tenant.tenantId,
          campaignId: id,
          generation: 1,
          shard: 7,
          sweepPk: keys.pageSweep(tenant.tenantId, id, 7),
          sweepAt: new Date(clock.now()).toISOString(),
        },
      }),
    );
    clock.advance(3_600_000);
    await recoverCampaigns(recoveryDeps());
    const rung = await receiveFor(id);
    expect(rung.map((m) => JSON.parse(m.Body ?? '{}').phone).sort()).toEqual([...contacts].sort());
    // Each rung contact now has its own sweep entry; the generation-0 marks left the index, the
    // newer one stays for a run that reads the resumed campaign.
    const listed = await Promise.all(
      contacts.map((phone) => readStored(keys.recipient(tenant.tenantId, id, phone))),
    );
    expect(listed.every((r) => r?.ring === 1 && r.sweepPk !== undefined)).toBe(true);
    const marks = await ddb.send(
      new QueryCommand({
        TableName: table(),
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :p',
        ExpressionAttributeValues: { ':p': keys.pageSweep(tenant.tenantId, id, 7) },
      }),
    );
    expect((marks.Items ?? []).map((m) => m.sk)).toEqual([newer.sk]);
  }, 60_000);
});

describe('completion when a folded count is wrong for good', () => {
  it('a lost sending → sent record (folded `sending` stays 1) holds completion only until the recipients are asked', async () => {
    const contacts = phones(3);
    const id = await newCampaign(contacts);
    await markRunning(deps, tenant.tenantId, id);
    await fanOutAndSendAll(id, contacts);
    await foldCaughtUp();
    // The fold lost one record for good (a stream batch dead-lettered after its retries): the
    // first contact's sending → sent, so its fold group still counts it `sending`.
    const first = contacts[0] ?? '';
    await ddb.send(
      new UpdateCommand({
        TableName: table(),
        Key: keys.foldedGroup(tenant.tenantId, id, foldGroupOf(shardOf(first))),
        UpdateExpression: 'ADD #sending :one, #sent :minusOne',
        ExpressionAttributeNames: { '#sending': 'sending', '#sent': 'sent' },
        ExpressionAttributeValues: { ':one': 1, ':minusOne': -1 },
      }),
    );
    expect((await foldedTotals(deps.store, tenant.tenantId, id)).sending).toBe(1);
    expect((await listAll(id)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);

    // Recovery runs every minute; within one recheck window it asks the recipients.
    const runs = IN_FLIGHT_RECHECK_MS / 60_000 + 1;
    let status = 'running';
    for (let run = 0; run < runs && status !== 'completed'; run++) {
      await recoverCampaigns(recoveryDeps());
      status = (await describeCampaign(deps, tenant.tenantId, id)).status;
      clock.advance(60_000);
    }
    expect(status).toBe('completed');
  }, 60_000);
});

describe("an operator's retry raced against the recovery run that completes the campaign", () => {
  /**
   * A running campaign, fanned out, one contact sent and one whose send ended unknown (held): every
   * contact final, so the next recovery run completes it.
   */
  async function doneButOneHeld() {
    const [sent = '', held = ''] = phones(2);
    const id = await newCampaign([sent, held]);
    await markRunning(deps, tenant.tenantId, id);
    for (let shard = 0; shard < SHARDS; shard++) {
      const body = { tenantId: tenant.tenantId, campaignId: id, generation: 0, shard };
      await fanoutShard(fanoutDeps(), body, 80, 60_000);
    }
    await receiveFor(id);
    const ref = (phone: string) => ({ tenantId: tenant.tenantId, campaignId: id, phone });
    await sendToRecipient(senderDeps(simClient(), `w-${sent}`), ref(sent));
    await sendToRecipient(senderDeps(lostAnswer, `w-${held}`), ref(held));
    // The run that settles the held contact (unknown) must not complete the campaign yet: the
    // folded counts show it `sending`, and this minute is not the campaign's recheck.
    await foldCaughtUp();
    clock.advance(601_000);
    if (inFlightRecheckDue(id, clock.now())) clock.advance(60_000);
    await recoverCampaigns(recoveryDeps());
    await foldCaughtUp();
    expect((await listAll(id)).map((r) => r.status).sort()).toEqual(['sent', 'unknown']);
    expect((await describeCampaign(deps, tenant.tenantId, id)).status).toBe('running');
    return { id, held };
  }

  /** `target` with one method replaced (the stores are class instances: a spread loses methods). */
  function patched<T extends object>(target: T, name: keyof T, replacement: unknown): T {
    return new Proxy(target, {
      get(t, p) {
        if (p === name) return replacement;
        const value = Reflect.get(t, p, t);
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });
  }

  /** The contact is pending again, so the campaign must be open for it to be sent. */
  async function expectOpenForTheRetry(id: string) {
    expect((await listAll(id)).filter((r) => r.status === 'pending')).toHaveLength(1);
    expect((await describeCampaign(deps, tenant.tenantId, id)).status).toBe('running');
    expect(await receiveFor(id)).toHaveLength(1);
  }

  it('the retry moves the contact after recovery asked the recipients, before it completes', async () => {
    const { id, held } = await doneButOneHeld();
    const base = recoveryDeps();
    let injected = false;
    const anyInFlight = async (tenantId: string, campaignId: string) => {
      const found = await base.store.pages.anyInFlight(tenantId, campaignId);
      if (!injected && campaignId === id) {
        injected = true;
        await retryUnknownRecipient(fanoutDeps(), tenant, id, held);
      }
      return found;
    };
    const store = { ...base.store, pages: patched(base.store.pages, 'anyInFlight', anyInFlight) };
    await recoverCampaigns({ ...base, store });
    expect(injected).toBe(true);
    await expectOpenForTheRetry(id);
  });

  it('recovery completes after the retry read the campaign, before the retry moved the contact', async () => {
    const { id, held } = await doneButOneHeld();
    const base = fanoutDeps();
    let injected = false;
    const retryUnknown = async (...args: Parameters<typeof base.store.recipients.retryUnknown>) => {
      if (!injected) {
        injected = true;
        await recoverCampaigns(recoveryDeps());
        expect((await describeCampaign(deps, tenant.tenantId, id)).status).toBe('completed');
      }
      return base.store.recipients.retryUnknown(...args);
    };
    const store = {
      ...base.store,
      recipients: patched(base.store.recipients, 'retryUnknown', retryUnknown),
    };
    await retryUnknownRecipient({ ...base, store }, tenant, id, held);
    expect(injected).toBe(true);
    await expectOpenForTheRetry(id);
  });
});
