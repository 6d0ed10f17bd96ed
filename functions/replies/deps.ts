/**
 * The replies context's composition root: the stores, the queue, the channels a tenant can send on
 * and the shared send-rate bucket, built once per execution environment from the environment the
 * manifest gives each function. Domain modules never read the environment.
 */
import {
  createWhatsAppClient,
  whatsappApiBaseUrl,
  whatsappApiVersion,
} from '../campaigns/index.js';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import type { UnknownOutcomePolicy } from '../kernel/outbound-effect.js';
import { platformSecret } from '../kernel/secrets.js';
import { targetGuard } from '../kernel/ssrf.js';
import { createTokenBucket, type TokenBucket } from '../kernel/token-bucket.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import {
  loadProviderCredentials,
  type ProviderCredentials,
  type ProviderName,
  providerCredentialDeps,
  type Tenant,
  tenantStore,
} from '../tenants/index.js';
import { messageKeys } from '../webhooks/index.js';
import type { ReplyChannel, ReplyChannelName } from './channel.js';
import { createEvolutionChannel } from './channels/evolution.js';
import { createGhlChannel, ghlApiBaseUrl } from './channels/ghl.js';
import { whatsappCloudChannel } from './channels/whatsapp-cloud.js';
import type { ReplyItem } from './items.js';
import type { ReplyDeps, TenantChannels } from './reply-store.js';
import type { EchoKeyOf, ReplyRate } from './sender.js';

/** Every provider call is bounded (10 s) so the reconcile window always outlasts it. */
const PROVIDER_TIMEOUT_MS = 10_000;

export function replyDeps(): ReplyDeps {
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    queueUrl: queueUrl('replies'),
  };
}

/** The tenant's sending account per channel: what `channel_unavailable` is decided on. */
export function tenantChannels(tenant: Tenant): TenantChannels {
  const whatsapp = tenant.whatsapp?.phoneNumberIds?.[0];
  // WhatsApp Web sends from the tenant's (first) Evolution instance, SMS from its GHL location.
  const whatsappWeb = tenant.whatsappWeb?.instances?.[0];
  const sms = tenant.ghl?.locationIds?.[0];
  return {
    ...(whatsapp ? { whatsapp } : {}),
    ...(whatsappWeb ? { whatsapp_web: whatsappWeb } : {}),
    ...(sms ? { sms } : {}),
  };
}

/**
 * A tenant's sealed provider credentials, opened at most once per 5 minutes per container (a
 * rotation reaches every sender within that; a send refused meanwhile is retried by the queue).
 */
const credentialCache = new TtlCache<unknown>({ ttlMs: 300_000, clock: systemClock });
function credentialsOf<P extends ProviderName>(
  tenantId: string,
  provider: P,
): Promise<ProviderCredentials<P> | undefined> {
  return credentialCache.get(`${tenantId}|${provider}`, async () =>
    loadProviderCredentials(await providerCredentialDeps(), tenantId, provider),
  ) as Promise<ProviderCredentials<P> | undefined>;
}

/** The local runtime: a tenant with no stored credentials sends to the simulators (api.md). */
const localSimulator = () =>
  process.env.ONCEFLOW_LOCAL === '1'
    ? process.env.EVOLUTION_LOCAL_BASE_URL?.replace(/\/$/, '') || undefined
    : undefined;

let channels: Readonly<Partial<Record<ReplyChannelName, ReplyChannel>>> | undefined;
export function replyChannels(): Readonly<Partial<Record<ReplyChannelName, ReplyChannel>>> {
  channels ??= {
    whatsapp: whatsappCloudChannel(
      createWhatsAppClient({
        baseUrl: whatsappApiBaseUrl(),
        version: whatsappApiVersion(),
        accessToken: () => platformSecret('whatsappAccessToken'),
        timeoutMs: PROVIDER_TIMEOUT_MS,
        now: () => systemClock.now(),
      }),
    ),
    whatsapp_web: createEvolutionChannel({
      credentials: async (send) => {
        const stored = await credentialsOf(send.tenantId, 'evolution');
        if (stored) return stored;
        const sim = localSimulator();
        return sim ? { baseUrl: sim, apiKey: 'local-evolution-key' } : undefined;
      },
      guard: targetGuard({ allowLoopbackHttp: process.env.ONCEFLOW_LOCAL === '1' }),
      timeoutMs: PROVIDER_TIMEOUT_MS,
    }),
    sms: createGhlChannel({
      baseUrl: ghlApiBaseUrl(),
      token: async (send) =>
        (await credentialsOf(send.tenantId, 'ghl'))?.token ??
        (localSimulator() ? 'local-ghl-token' : undefined),
      timeoutMs: PROVIDER_TIMEOUT_MS,
    }),
  };
  return channels;
}

/** How each channel's echo of a sent message is keyed by the inbound webhooks. */
export const echoKeyOf: EchoKeyOf = (channel, providerMessageId) => {
  if (channel === 'whatsapp') return messageKeys.cloud(providerMessageId);
  if (channel === 'whatsapp_web') return messageKeys.web(providerMessageId);
  if (channel === 'sms') return messageKeys.ghl(providerMessageId);
  return undefined;
};

let tokens: TokenBucket | undefined;
/**
 * The bucket campaigns take from (`campaigns` table, `wa:<phoneNumberId>`): one number's replies
 * and campaign sends share its rate, whichever pipeline sends.
 */
export function sendTokens(): TokenBucket {
  tokens ??= createTokenBucket({ ddb, table: tableName('campaigns') });
  return tokens;
}

const TEN_SECONDS = 10_000;
const tenantCache = new Map<string, { tenant: Tenant | undefined; until: number }>();
async function cachedTenant(tenantId: string): Promise<Tenant | undefined> {
  const hit = tenantCache.get(tenantId);
  if (hit && hit.until > Date.now()) return hit.tenant;
  const tenant = await tenantStore().get(tenantId);
  tenantCache.set(tenantId, { tenant, until: Date.now() + TEN_SECONDS });
  return tenant;
}

export async function rateOf(reply: ReplyItem): Promise<ReplyRate> {
  const tenant = await cachedTenant(reply.tenantId);
  const perSecond = tenant?.messagesPerSecond ?? 80;
  // WhatsApp numbers share the campaigns' bucket name; other channels get their own account's.
  const bucket =
    reply.channel === 'whatsapp' ? `wa:${reply.from}` : `${reply.channel}:${reply.from}`;
  return { bucket, perSecond };
}

export async function unknownOutcome(tenantId: string): Promise<UnknownOutcomePolicy> {
  return (await cachedTenant(tenantId))?.unknownOutcome ?? 'hold';
}
