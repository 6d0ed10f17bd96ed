/**
 * What every campaign test against the emulators starts from: a tenant with a campaign store on a
 * ManualClock, the WhatsApp simulator on a free port (statuses applied by the tests themselves),
 * private FIFO queues, campaigns created the way the API does, and the listing read back in full.
 * Shared by `campaign.test.ts`, `campaign-correctness.test.ts` and the crash matrix's campaign flows.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { sqsCampaignQueues } from '../../../functions/campaigns/campaign-queues.js';
import {
  type CampaignDeps,
  type CampaignStore,
  dynamoCampaignStore,
} from '../../../functions/campaigns/campaign-store.js';
import type { FanoutDeps } from '../../../functions/campaigns/fanout.js';
import { createCampaign } from '../../../functions/campaigns/lifecycle.js';
import {
  emptyTotals,
  type Totals,
  type UnknownOutcomePolicy,
} from '../../../functions/campaigns/model.js';
import {
  listRecipients,
  type RecipientView,
} from '../../../functions/campaigns/recipient-pages.js';
import type { RecoveryDeps } from '../../../functions/campaigns/recovery.js';
import type { SenderDeps } from '../../../functions/campaigns/sender.js';
import {
  createWhatsAppClient,
  type WhatsAppSender,
} from '../../../functions/campaigns/whatsapp-client.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { readItem } from '../../../functions/kernel/read-item.js';
import { createTokenBucket } from '../../../functions/kernel/token-bucket.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { ensureFifoQueue } from '../../../lib/local/provision.js';
import { fifoQueuePair } from '../../../lib/local/resources.js';
import { whatsappSimulator } from '../../../lib/local/sim/whatsapp.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';
import { emulatorEndpoints } from '../../support/emulators.js';
import { testTenantStore } from '../../support/tenant-store.js';
import { createTenant, type TestTenant } from '../conversations/inbound-support.js';

export const TEMPLATE = { name: 'spring_sale', language: 'en_US' };

/** The campaign domain's dependencies on a ManualClock: the store and the clock. */
export interface TestCampaignDeps extends CampaignDeps {
  readonly clock: ManualClock;
}

/** The store of the emulators' `campaigns` table. */
export function testCampaignStore(): CampaignStore {
  return dynamoCampaignStore(ddb, tableName('campaigns'));
}

export interface CampaignWorld {
  readonly clock: ManualClock;
  /** The store and the clock, as the handlers hand them to the domain. */
  readonly deps: TestCampaignDeps;
  /** The tenant as the domain sees it. */
  readonly tenant: Tenant;
  /** Its credentials and WhatsApp number. */
  readonly testTenant: TestTenant;
}

/** A fresh tenant (default country IL) and campaign deps on a ManualClock set to now. */
export async function campaignWorld(): Promise<CampaignWorld> {
  const testTenant = await createTenant('IL');
  const tenant = await testTenantStore().get(testTenant.tenantId, { consistent: true });
  if (!tenant) throw new Error(`tenant ${testTenant.tenantId} was not created`);
  const clock = new ManualClock(Date.now());
  return { clock, deps: { store: testCampaignStore(), clock }, tenant, testTenant };
}

export interface WhatsAppSimulator {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * The WhatsApp simulator alone, on a free port. Its status webhooks go nowhere (port 9): tests
 * apply statuses themselves. `tag` names its ledger directory.
 */
export async function startWhatsAppSimulator(tag: string): Promise<WhatsAppSimulator> {
  const sim = createSimulatorServer({
    context: {
      apiBaseUrl: 'http://127.0.0.1:9',
      simBaseUrl: '',
      env: (name) =>
        name === 'ONCEFLOW_DATA_DIR' ? `/tmp/onceflow-${tag}-${process.pid}` : process.env[name],
      log: () => {},
    },
    factories: [whatsappSimulator],
  });
  const url = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
  return {
    url,
    server: sim.server,
    async close() {
      await sim.closeModules();
      await closeServer(sim.server);
    },
  };
}

/** A WhatsApp client of the simulator at `url`. */
export function simClient(url: string): WhatsAppSender {
  return createWhatsAppClient({ baseUrl: url, version: 'v25.0', accessToken: async () => 't' });
}

/** The simulator's accepted sends of one campaign (its ledger: duplicates stay visible). */
export async function ledgerFor(
  simUrl: string,
  campaignId: string,
): Promise<Array<{ to: string; wamid: string; bizOpaqueCallbackData: string }>> {
  const out = (await (await fetch(`${simUrl}/_sim/whatsapp/messages`)).json()) as {
    messages: Array<{ to: string; wamid: string; bizOpaqueCallbackData: string }>;
  };
  return out.messages.filter((m) => m.bizOpaqueCallbackData?.includes(`|${campaignId}|`));
}

/** A FIFO queue (and its DLQ) of a test's own, so other files' consumers never take its messages. */
export async function privateFifoQueue(
  name: string,
  attributes: { visibilityTimeoutSeconds: number; maxReceiveCount: number },
): Promise<string> {
  const base = `${name}-${randomUUID().slice(0, 8)}`;
  const queue = fifoQueuePair(`${base}.fifo`, `${base}-dlq.fifo`, emulatorEndpoints().sqs);
  await ensureFifoQueue(sqs, queue, attributes);
  return queue.url;
}

/** Creates a campaign of `recipients` (one page) for the world's tenant; returns its id. */
export async function newCampaign(
  world: Pick<CampaignWorld, 'deps' | 'tenant' | 'testTenant'>,
  recipients: readonly string[],
  id = `cmp_it_${Math.random().toString(36).slice(2)}`,
): Promise<string> {
  await createCampaign(world.deps, world.tenant, id, {
    name: 'Spring',
    template: TEMPLATE,
    phoneNumberId: world.testTenant.phoneNumberId,
    recipients: recipients.map((phone) => ({ phone })),
  });
  return id;
}

/** Every recipient of a campaign, page by page through the listing's cursor. */
export async function listAll(
  deps: Pick<CampaignDeps, 'store'>,
  tenantId: string,
  campaignId: string,
  options: { status?: RecipientView['status']; limit?: number } = {},
): Promise<RecipientView[]> {
  const all: RecipientView[] = [];
  let cursor: string | undefined;
  do {
    const page = await listRecipients(deps, tenantId, campaignId, {
      limit: options.limit ?? 100,
      ...(options.status ? { status: options.status } : {}),
      ...(cursor ? { cursor } : {}),
    });
    all.push(...page.recipients);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

/** The totals a listing adds up to, status by status. */
export function countByStatus(list: readonly RecipientView[]): Totals {
  const totals: Totals = { ...emptyTotals(), recipients: list.length };
  for (const r of list) totals[r.status] += 1;
  return totals;
}

/**
 * A sender as the handler builds one, on the store's clock: a generous rate (500/s), a 60 s lease,
 * a 600 s reconciliation window and no real sleeping between inline retries.
 */
export function testSenderDeps(
  deps: CampaignDeps,
  whatsapp: WhatsAppSender,
  owner: string,
  overrides: Partial<SenderDeps> = {},
): SenderDeps {
  return {
    store: deps.store,
    clock: deps.clock,
    whatsapp,
    tokens: createTokenBucket({ ddb, table: tableName('campaigns') }),
    campaign: (tenantId, campaignId) => deps.store.campaigns.get(tenantId, campaignId),
    messagesPerSecond: async () => 500,
    owner,
    leaseSeconds: 60,
    reconcileWindowSeconds: 600,
    sleep: async () => {},
    ...overrides,
  };
}

/** The recovery schedule's dependencies over `fanout`'s queues, with the tenant's `policy`. */
export function testRecoveryDeps(
  fanout: FanoutDeps,
  policy: UnknownOutcomePolicy = 'hold',
): RecoveryDeps {
  return {
    ...fanout,
    reconcileWindowSeconds: 600,
    messagesPerSecond: async () => 80,
    unknownOutcome: async () => policy,
    sendsQueueIsEmpty: async () => false,
  };
}

/** Fan-out's dependencies with doorbells on the given (private) queues. */
export function testFanoutDeps(
  deps: CampaignDeps,
  queues: { readonly sends: string; readonly fanout: string },
): FanoutDeps {
  return { ...deps, queues: sqsCampaignQueues(sqs, queues) };
}

/** An item of the campaigns table as stored (every attribute: keys, sweep and index entries too). */
export async function readStored(key: {
  readonly pk: string;
  readonly sk: string;
}): Promise<Record<string, unknown> | undefined> {
  return readItem(ddb, tableName('campaigns'), key);
}
