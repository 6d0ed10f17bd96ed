/**
 * Campaign flows of the crash matrix: one campaign from create to completed, with every
 * `campaign.*` failpoint armed once in turn. The driver does what production does after a crash:
 * the HTTP client retries its request (same Idempotency-Key), a crashed queue delivery comes back
 * (private FIFO queues with a 1 s visibility timeout, so "after the visibility timeout" is real
 * and short), status webhooks are retried by the provider, the recovery schedule runs, and the
 * clock seam jumps past leases and the reconciliation window between rounds.
 *
 * The tenant opts in to `unknownOutcome: "retry_once"` so the release path of recovery is
 * crossed; one contact's first call ends with a lost answer that never reached the provider (so
 * the documented second message cannot happen), another's first call is refused with 131000.
 *
 * The campaign lives on a fresh table with the campaigns layout and its stream, read by the real
 * counter fold through the local stream poller (Lambda's event source mapping): totals are folded
 * from the change feed, so each round waits until the fold has caught up (the poller drained)
 * before the recovery run that sees completion, and the totals are read once it has.
 *
 * Invariants after each run: the provider's ledger holds at most one accepted send per contact,
 * every contact is final (sent / delivered / read / failed / unknown), the campaign is completed,
 * and its totals — the folded counts — equal the listing status by status.
 */

import { randomUUID } from 'node:crypto';
import { applyCampaignStatus } from '../../functions/campaigns/apply-status.js';
import { listCampaigns } from '../../functions/campaigns/campaign-listing.js';
import { dynamoCampaignStore } from '../../functions/campaigns/campaign-store.js';
import { fanoutShard } from '../../functions/campaigns/fanout.js';
import {
  changeCampaignState,
  createCampaign,
  describeCampaign,
} from '../../functions/campaigns/lifecycle.js';
import type {
  FanoutMessageBody,
  SendMessageBody,
  Totals,
} from '../../functions/campaigns/model.js';
import { recoverCampaigns } from '../../functions/campaigns/recovery.js';
import { sendToRecipient } from '../../functions/campaigns/sender.js';
import type { WhatsAppSender } from '../../functions/campaigns/whatsapp-client.js';
import { armOnce, firedCount } from '../../functions/kernel/failpoints.js';
import { ensureTable } from '../../lib/local/provision.js';
import { tables } from '../../lib/manifest.js';
import {
  campaignWorld,
  countByStatus,
  ledgerFor,
  listAll,
  privateFifoQueue,
  simClient,
  startWhatsAppSimulator,
  TEMPLATE,
  testFanoutDeps,
  testRecoveryDeps,
  testSenderDeps,
} from '../integration/campaigns/campaign-support.js';
import { foldHandler } from '../integration/campaigns/fold-support.js';
import { ddb, poll, stopPollers } from '../integration/events/feed-support.js';
import { testDynamoDbClient } from '../support/emulators.js';
import { drainQueue, untilItLands } from './crash-driver.js';
import type { CrashFlow } from './flow.js';

const CONTACTS = 6;
const MAX_ROUNDS = 12;
const FINAL = new Set(['sent', 'delivered', 'read', 'failed', 'unknown']);

let simUrl: Promise<string> | undefined;
function simulator(): Promise<string> {
  simUrl ??= startWhatsAppSimulator('cm').then((sim) => {
    sim.server.unref();
    return sim.url;
  });
  return simUrl;
}

const privateQueue = (name: string) =>
  privateFifoQueue(name, { visibilityTimeoutSeconds: 1, maxReceiveCount: 50 });

function fail(message: string): never {
  throw new Error(message);
}

async function runCampaign(point: string): Promise<void> {
  try {
    await campaignThroughCrash(point);
  } finally {
    await stopPollers();
  }
}

async function campaignThroughCrash(point: string): Promise<void> {
  const sim = await simulator();
  const world = await campaignWorld();
  const { clock, tenant, testTenant } = world;
  // A table of this run's own, with its stream and the counter fold reading it.
  const table = `cm-${randomUUID().slice(0, 8)}`;
  await ensureTable(testDynamoDbClient(), table, tables.campaigns);
  const store = dynamoCampaignStore(ddb, table);
  const fold = foldHandler({ deps: { store, clock } });
  const folding = await poll(table, fold.handler, { batchSize: 100 });
  const queues = { sends: await privateQueue('cm-sends'), fanout: await privateQueue('cm-fanout') };
  const deps = testFanoutDeps({ store, clock }, queues);
  const recovery = testRecoveryDeps(deps, 'retry_once');
  const contacts = Array.from(
    { length: CONTACTS },
    (_, i) => `+97252${String(1_000_000 + Math.floor(Math.random() * 8_000_000) + i).slice(-7)}`,
  );
  const [lostOnce, refusedOnce] = contacts;
  const firstCall = new Set<string>();
  const real = simClient(sim);
  // One contact's first call never reaches the provider but its answer is lost (unknown); one's
  // first call is refused with Meta's transient 131000.
  const whatsapp: WhatsAppSender = {
    async sendTemplate(send) {
      const first = !firstCall.has(send.to);
      firstCall.add(send.to);
      if (first && send.to === lostOnce) return { kind: 'unknown', reason: 'socket hang up' };
      if (first && send.to === refusedOnce) {
        return {
          kind: 'rejected',
          class: 'transient',
          httpStatus: 500,
          code: 131000,
          message: '(#131000) Something went wrong',
        };
      }
      return real.sendTemplate(send);
    },
  };
  const sender = (owner: string) => testSenderDeps(deps, whatsapp, owner, { inlineRetries: 0 });
  const ledger = () => ledgerFor(sim, campaignId);

  armOnce(point);
  const campaignId = `cmp_cm_${randomUUID().slice(0, 12)}`;
  // The operator's create, retried with the same Idempotency-Key after a crash.
  await untilItLands(() =>
    createCampaign(
      deps,
      tenant,
      campaignId,
      {
        name: 'Crash matrix',
        template: TEMPLATE,
        phoneNumberId: testTenant.phoneNumberId,
        recipients: contacts.map((phone) => ({ phone })),
      },
      `create|${campaignId}`,
    ),
  );
  // The operator's start, retried after a crash.
  await untilItLands(() => changeCampaignState(deps, tenant.tenantId, campaignId, 'start'));

  const applied = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    await drainQueue(queues.fanout, 'SendRetryError', async (body) => {
      await fanoutShard(deps, body as FanoutMessageBody, 80, 60_000);
    });
    let n = 0;
    await drainQueue(queues.sends, 'SendRetryError', async (body) => {
      n += 1;
      await sendToRecipient(sender(`r${round}-${n}`), body as SendMessageBody);
    });
    // The provider's status webhooks (echoing the callback data), retried until answered.
    for (const entry of await ledger()) {
      if (applied.has(entry.wamid)) continue;
      await untilItLands(() =>
        applyCampaignStatus(deps, {
          tenantId: tenant.tenantId,
          phoneNumberId: testTenant.phoneNumberId,
          wamid: entry.wamid,
          status: 'delivered',
          occurredAt: new Date(clock.now()).toISOString(),
          bizOpaqueCallbackData: entry.bizOpaqueCallbackData,
        }),
      );
      applied.add(entry.wamid);
    }
    // Completion is seen by the recovery run after the fold (folded counts, then the recipients).
    await folding.drained();
    await untilItLands(() => recoverCampaigns(recovery));
    const described = await describeCampaign(deps, tenant.tenantId, campaignId);
    if (described.status === 'completed') break;
    // Past every lease, the reconciliation window and the pending horizon.
    clock.advance(700_000);
  }

  if (firedCount(point) !== 1) fail(`${point} fired ${firedCount(point)} times, expected 1`);
  const sends = new Map<string, number>();
  for (const entry of await ledger()) sends.set(entry.to, (sends.get(entry.to) ?? 0) + 1);
  const twice = [...sends.entries()].filter(([, count]) => count > 1);
  if (twice.length > 0) fail(`${twice.length} contact(s) sent more than once`);
  const listed = await listAll(deps, tenant.tenantId, campaignId);
  if (listed.length !== CONTACTS) fail(`listed ${listed.length} contacts, expected ${CONTACTS}`);
  const open = listed.filter((r) => !FINAL.has(r.status));
  if (open.length > 0) fail(`${open.length} contact(s) not final: ${open.map((r) => r.status)}`);
  // The totals once the feed is folded: the folded counts, exact whatever crashed.
  await folding.drained();
  const described = await describeCampaign(deps, tenant.tenantId, campaignId);
  if (described.status !== 'completed') fail(`campaign ${described.status}, expected completed`);
  const expected = countByStatus(listed);
  for (const key of Object.keys(expected) as Array<keyof Totals>) {
    if (described.totals[key] !== expected[key]) {
      fail(`totals.${key} ${described.totals[key]} != listing ${expected[key]}`);
    }
  }
  // Listed once in the tenant's campaigns, whatever crashed during the create.
  const inListing = (
    await listCampaigns(deps, tenant.tenantId, {
      limit: 50,
      configuredRate: 80,
      providerTimeoutSeconds: 10,
    })
  ).campaigns.filter((c) => c.campaignId === campaignId);
  if (inListing.length !== 1) fail(`campaign listed ${inListing.length} times, expected 1`);
  // Every accepted send is on its contact (the wamid was never dropped).
  for (const r of listed) {
    const accepted = sends.get(r.phone.slice(1)) ?? 0;
    if (accepted === 1 && !r.providerMessageId) fail('an accepted send has no wamid listed');
  }
}

const flows: CrashFlow[] = [
  {
    name: 'campaign create → start → fan-out → send → statuses → recovery → completed',
    failpoints: [
      'campaign.create.after-meta',
      'campaign.recipients.after-chunk',
      'campaign.start.after-running',
      'campaign.fanout.after-mark',
      'campaign.fanout.after-enqueue',
      'campaign.fanout.after-batch',
      'campaign.send.after-claim',
      'campaign.send.after-provider-accepted',
      'campaign.send.after-provider-rejected',
      'campaign.send.after-wamid-stored',
      'campaign.status.after-apply',
      'campaign.recover.after-release',
      'campaign.recover.after-enqueue',
    ],
    run: runCampaign,
  },
];

export default flows;
