/**
 * What a counted transition costs since the counters are folded from the change feed: every move of
 * a recipient — the claim, the wamid, a refusal's end, a provider status, recovery's settling, an
 * operator's retry — is one conditional `UpdateItem` of the recipient alone, never a
 * `TransactWriteItems` and never a write of a counter item (`CC#…` before the switch; `CF#…` is
 * written by the fold alone). The requests are counted by operation and key as the SDK sends them to DynamoDB Local;
 * the totals then equal the listing once the feed is folded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyCampaignStatus } from '../../../functions/campaigns/apply-status.js';
import { markRunning } from '../../../functions/campaigns/lifecycle.js';
import { retryUnknownRecipient } from '../../../functions/campaigns/operator-retry.js';
import { recoverCampaigns } from '../../../functions/campaigns/recovery.js';
import { sendToRecipient } from '../../../functions/campaigns/sender.js';
import type { WhatsAppSender } from '../../../functions/campaigns/whatsapp-client.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { queueUrl } from '../../../functions/kernel/config.js';
import {
  type CampaignWorld,
  campaignWorld,
  countByStatus,
  ledgerFor,
  listAll,
  newCampaign,
  simClient,
  startWhatsAppSimulator,
  testFanoutDeps,
  testRecoveryDeps,
  testSenderDeps,
} from './campaign-support.js';
import { foldedTotals } from './shared-fold.js';

let world: CampaignWorld;
let simUrl: string;

beforeAll(async () => {
  world = await campaignWorld();
  const sim = await startWhatsAppSimulator('tw');
  simUrl = sim.url;
  afterAll(() => sim.close());
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface Sent {
  readonly operation: string;
  /** The partition keys the request writes (every item of a transaction). */
  readonly writes: readonly string[];
}

const WRITES = new Set([
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
  'TransactWriteCommand',
  'BatchWriteCommand',
]);

/** Every write request `act` sends through the SDK, by operation and the partition keys it writes. */
async function writesOf(act: () => Promise<unknown>): Promise<Sent[]> {
  const sent: Sent[] = [];
  const real = ddb.send.bind(ddb) as (command: unknown) => Promise<unknown>;
  vi.spyOn(ddb, 'send').mockImplementation((async (command: unknown) => {
    const operation = (command as object).constructor.name;
    if (WRITES.has(operation)) {
      const input = (command as { input: Record<string, unknown> }).input;
      type Keyed = { Key?: { pk?: unknown }; Item?: { pk?: unknown } };
      const items = (input.TransactItems as Array<Record<string, Keyed>> | undefined) ?? [
        { op: { Key: input.Key, Item: input.Item } as Keyed },
      ];
      const writes = items.flatMap((item) =>
        Object.values(item).map((op) => String((op.Key ?? op.Item)?.pk ?? '')),
      );
      sent.push({ operation, writes });
    }
    return real(command);
  }) as never);
  try {
    await act();
  } finally {
    vi.restoreAllMocks();
  }
  return sent;
}

/**
 * The writes of `sent` that touch the campaign's recipients or its transactional counter items
 * (`CC#`, moved in every transition's transaction before the switch). The folded counts (`CF#`)
 * are the fold's, written by the stream poller running beside the test, not by the transition.
 */
function campaignWrites(sent: readonly Sent[], campaignId: string) {
  return sent.filter((s) =>
    s.writes.some((pk) => /^(CR|CC)#/.test(pk) && pk.includes(`#${campaignId}#`)),
  );
}

const onlyRecipientUpdates = (n: number) =>
  Array.from({ length: n }, () => ({
    operation: 'UpdateCommand',
    writes: [expect.stringMatching(/^CR#/)],
  }));

describe('a counted transition is one conditional write of the recipient', () => {
  it('claim and wamid: two UpdateItems of the recipient, no transaction, no counter item', async () => {
    const [phone = ''] = ['+972503300001'];
    const id = await newCampaign(world, [phone]);
    await markRunning(world.deps, world.tenant.tenantId, id);
    const sender = testSenderDeps(world.deps, simClient(simUrl), 'w-tw');
    const ref = { tenantId: world.tenant.tenantId, campaignId: id, phone };

    const sent = await writesOf(() => sendToRecipient(sender, ref));

    expect(await ledgerFor(simUrl, id)).toHaveLength(1);
    expect(sent.filter((s) => s.operation === 'TransactWriteCommand')).toEqual([]);
    expect(campaignWrites(sent, id)).toEqual(onlyRecipientUpdates(2));

    // A provider status: one more, and a duplicate of it none that applies.
    const [entry] = await ledgerFor(simUrl, id);
    const status = () =>
      applyCampaignStatus(world.deps, {
        tenantId: world.tenant.tenantId,
        phoneNumberId: world.testTenant.phoneNumberId,
        wamid: entry?.wamid ?? '',
        status: 'delivered',
        occurredAt: new Date(world.clock.now()).toISOString(),
        bizOpaqueCallbackData: entry?.bizOpaqueCallbackData ?? '',
      });
    const delivered = await writesOf(status);
    expect(delivered.filter((s) => s.operation === 'TransactWriteCommand')).toEqual([]);
    expect(campaignWrites(delivered, id)).toEqual(onlyRecipientUpdates(1));
    expect(await foldedTotals(world.deps.store, world.tenant.tenantId, id)).toEqual(
      countByStatus(await listAll(world.deps, world.tenant.tenantId, id)),
    );
  });

  it('a refusal ends the claim, an unknown outcome is held, an operator retries it: one UpdateItem each', async () => {
    const [refused = '', lost = ''] = ['+972503300002', '+972503300003'];
    const id = await newCampaign(world, [refused, lost]);
    await markRunning(world.deps, world.tenant.tenantId, id);
    const provider: WhatsAppSender = {
      sendTemplate: async (send) =>
        send.to === refused
          ? {
              kind: 'rejected',
              class: 'permanent',
              httpStatus: 400,
              code: 131026,
              message: 'Message undeliverable',
            }
          : { kind: 'unknown', reason: 'timeout' },
    };
    const sender = testSenderDeps(world.deps, provider, 'w-tw2');
    const ref = (phone: string) => ({ tenantId: world.tenant.tenantId, campaignId: id, phone });

    // Act: refused for good (claim + end), lost answer (claim only), recovery holds it (one), the
    // operator retries it (one).
    const refusal = await writesOf(() => sendToRecipient(sender, ref(refused)));
    const unknown = await writesOf(() => sendToRecipient(sender, ref(lost)));
    world.clock.advance(601_000);
    const fanout = testFanoutDeps(world.deps, {
      sends: queueUrl('sends'),
      fanout: queueUrl('fanout'),
    });
    const held = await writesOf(() => recoverCampaigns(testRecoveryDeps(fanout)));
    const retried = await writesOf(() => retryUnknownRecipient(fanout, world.tenant, id, lost));

    // Assess
    for (const sent of [refusal, unknown, held, retried]) {
      expect(sent.filter((s) => s.operation === 'TransactWriteCommand')).toEqual([]);
    }
    expect(campaignWrites(refusal, id)).toEqual(onlyRecipientUpdates(2));
    expect(campaignWrites(unknown, id)).toEqual(onlyRecipientUpdates(1));
    expect(campaignWrites(held, id)).toEqual(onlyRecipientUpdates(1));
    expect(campaignWrites(retried, id)).toEqual(onlyRecipientUpdates(1));
    const listed = await listAll(world.deps, world.tenant.tenantId, id);
    expect(listed.map((r) => r.status).sort()).toEqual(['failed', 'pending']);
    expect(await foldedTotals(world.deps.store, world.tenant.tenantId, id)).toEqual(
      countByStatus(listed),
    );
  });
});

describe('a claim whose answer was lost', () => {
  it('is retried by the SDK, found to be ours, and the contact is sent once (not held unknown)', async () => {
    const phone = '+972503300009';
    const id = await newCampaign(world, [phone]);
    await markRunning(world.deps, world.tenant.tenantId, id);
    const sender = testSenderDeps(world.deps, simClient(simUrl), 'w-lost-claim');
    const ref = { tenantId: world.tenant.tenantId, campaignId: id, phone };
    // The first recipient UpdateItem commits, then its answer is lost as a 500 would lose it:
    // below the SDK's retry step, so the SDK sends the same request again.
    let lost = 0;
    const name = 'loseFirstRecipientUpdateAnswer';
    ddb.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const update = /^Update(Item)?Command$/.test(context.commandName ?? '');
        if (lost === 0 && update && JSON.stringify(args.input).includes(`#${id}#`)) {
          lost += 1;
          throw Object.assign(new Error('the answer was lost after the write'), {
            name: 'InternalServerError',
            $fault: 'server',
            $metadata: { httpStatusCode: 500 },
          });
        }
        return out;
      },
      { step: 'deserialize', name },
    );
    let outcome: string;
    try {
      outcome = await sendToRecipient(sender, ref);
    } finally {
      ddb.middlewareStack.remove(name);
    }

    expect(lost).toBe(1);
    expect(outcome).toBe('sent');
    expect(await ledgerFor(simUrl, id)).toHaveLength(1);
    const listed = await listAll(world.deps, world.tenant.tenantId, id);
    expect(listed.map((r) => r.status)).toEqual(['sent']);
  });
});
