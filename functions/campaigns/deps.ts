/**
 * The campaigns context's composition root: the one place that reads the environment the manifest
 * gives each function, and builds the store, the doorbells, the WhatsApp client, the token bucket
 * and the tenant lookups the handlers (`handlers/`) pass to the domain modules, once per execution
 * environment. Nothing below a handler reads the environment.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { ddb, sqs } from '../kernel/clients.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { queueUrl, settings, tableName } from '../kernel/config.js';
import { platformSecret } from '../kernel/secrets.js';
import { createTokenBucket, type TokenBucket } from '../kernel/token-bucket.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import { tenantStore } from '../tenants/index.js';
import { applyCampaignStatus, type WhatsAppStatusEvent } from './apply-status.js';
import { type CampaignQueues, sqsCampaignQueues } from './campaign-queues.js';
import { type CampaignDeps, type CampaignStore, dynamoCampaignStore } from './campaign-store.js';
import type { FoldDeps } from './counter-fold.js';
import type { FanoutDeps } from './fanout.js';
import type { CampaignItem } from './items.js';
import { DEFAULT_UNKNOWN_OUTCOME, type UnknownOutcomePolicy } from './model.js';
import type { RecoveryDeps } from './recovery.js';
import type { SenderDeps } from './sender.js';
import { campaignSettings } from './settings.js';
import {
  createWhatsAppClient,
  type WhatsAppSender,
  whatsappApiBaseUrl,
  whatsappApiVersion,
} from './whatsapp-client.js';

let store: CampaignStore | undefined;

export function campaignStore(): CampaignStore {
  store ??= dynamoCampaignStore(ddb, tableName('campaigns'));
  return store;
}

export function campaignDeps(): CampaignDeps {
  return { store: campaignStore(), clock: systemClock };
}

/** The counter fold's dependencies: the folded counts and the clock its lag is measured on. */
export function foldDeps(): FoldDeps {
  return { folded: campaignStore().folded, clock: systemClock };
}

let queues: CampaignQueues | undefined;

export function fanoutDeps(): FanoutDeps {
  queues ??= sqsCampaignQueues(sqs, { sends: queueUrl('sends'), fanout: queueUrl('fanout') });
  return { ...campaignDeps(), queues };
}

/** How long a tenant's send settings are served from a warm container without reading again. */
const TENANT_SETTINGS_TTL_MS = 10_000;

let rates: TtlCache<number> | undefined;
let policies: TtlCache<UnknownOutcomePolicy> | undefined;

/** The tenant's configured WhatsApp rate (messages per second), cached for ten seconds. */
export async function messagesPerSecond(tenantId: string): Promise<number> {
  rates ??= new TtlCache({ ttlMs: TENANT_SETTINGS_TTL_MS, clock: systemClock });
  const rate = await rates.get(tenantId, async () => {
    const tenant = await tenantStore().get(tenantId);
    return tenant?.messagesPerSecond ?? 80;
  });
  return rate ?? 80;
}

/** The tenant's unknown-outcome policy (`hold` unless it opted in to `retry_once`), cached. */
export async function unknownOutcome(tenantId: string): Promise<UnknownOutcomePolicy> {
  policies ??= new TtlCache({ ttlMs: TENANT_SETTINGS_TTL_MS, clock: systemClock });
  const policy = await policies.get(tenantId, async () => {
    const tenant = await tenantStore().get(tenantId);
    return tenant?.unknownOutcome ?? DEFAULT_UNKNOWN_OUTCOME;
  });
  return policy ?? DEFAULT_UNKNOWN_OUTCOME;
}

async function sendsQueueIsEmpty(): Promise<boolean> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl('sends'),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const visible = Number(out.Attributes?.ApproximateNumberOfMessages ?? '1');
  const inFlight = Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? '1');
  return visible === 0 && inFlight === 0;
}

export function recoveryDeps(): RecoveryDeps {
  return {
    ...fanoutDeps(),
    reconcileWindowSeconds: settings.reconcileWindowSeconds,
    messagesPerSecond,
    unknownOutcome,
    sendsQueueIsEmpty,
  };
}

let whatsapp: WhatsAppSender | undefined;
let tokens: TokenBucket | undefined;
let campaigns: TtlCache<CampaignItem> | undefined;

/** A sender for one delivery: `owner` is its lease owner, unique to the delivery. */
export function senderDeps(owner: string): SenderDeps {
  whatsapp ??= createWhatsAppClient({
    baseUrl: whatsappApiBaseUrl(),
    version: whatsappApiVersion(),
    accessToken: () => platformSecret('whatsappAccessToken'),
    // Every provider call is bounded: the reconcile window is checked against this very value.
    timeoutMs: campaignSettings.providerTimeoutSeconds * 1000,
    // The version calendar is read on the clock seam.
    now: () => systemClock.now(),
  });
  tokens ??= createTokenBucket({ ddb, table: tableName('campaigns') });
  // Pausing reaches senders within about a second: the campaign is read again after that (an
  // eventually consistent read: a copy a moment old is what the cache serves anyway).
  campaigns ??= new TtlCache({ ttlMs: 1000, clock: systemClock });
  const cache = campaigns;
  const deps = campaignDeps();
  return {
    ...deps,
    whatsapp,
    tokens,
    campaign: (tenantId, campaignId) =>
      cache.get(`${tenantId}|${campaignId}`, () =>
        deps.store.campaigns.get(tenantId, campaignId, { consistent: false }),
      ),
    messagesPerSecond,
    owner,
    leaseSeconds: settings.leaseSeconds,
    reconcileWindowSeconds: settings.reconcileWindowSeconds,
  };
}

/**
 * Applies a WhatsApp status to its campaign recipient: what the webhooks context calls (through
 * `index.ts`), on its own clock.
 */
export function applyWhatsAppStatus(event: WhatsAppStatusEvent, clock: Clock = systemClock) {
  return applyCampaignStatus({ store: campaignStore(), clock }, event);
}
