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
import type { AiReplyPort } from '../jobs/index.js';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import type { UnknownOutcomePolicy } from '../kernel/outbound-effect.js';
import { platformSecret } from '../kernel/secrets.js';
import { dnsResolver, targetGuard } from '../kernel/ssrf.js';
import { createTokenBucket, type TokenBucket } from '../kernel/token-bucket.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import {
  loadProviderCredentials,
  type ProviderCredentials,
  type ProviderName,
  providerCredentialDeps,
  type Tenant,
  tenantStore,
  type UnipileAccountType,
  unipileApiKey,
} from '../tenants/index.js';
import { messageKeys } from '../webhooks/index.js';
import { aiReplies } from './ai-replies.js';
import type { ReplyChannel, ReplyChannelName } from './channel.js';
import { createEvolutionChannel } from './channels/evolution.js';
import { createGhlChannel, ghlApiBaseUrl } from './channels/ghl.js';
import {
  checkedUnipileBaseUrl,
  createUnipileChannel,
  type UnipileChannelName,
  type UnipileChannelOptions,
  UnipileNotConfiguredError,
} from './channels/unipile.js';
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

/**
 * What reading a reply takes: the inbound table only. `GET /v1/messages/{id}` is granted no queue,
 * so it must not build `replyDeps` (which names the replies queue: unset there, a 500).
 */
export function replyReadDeps(): Pick<ReplyDeps, 'ddb' | 'table'> {
  return { ddb, table: tableName('inbound') };
}

/**
 * The reply channel each kind of Unipile account gives (its type as the tenant declared it,
 * `unipile.accountTypes`): LinkedIn, Instagram and Telegram chats, and e-mail for the mail
 * providers Unipile connects (`GOOGLE`, `OUTLOOK`, `MAIL`: IMAP). A WhatsApp account connected
 * through Unipile is filed `whatsapp_web` inbound but answered through Evolution, not here; the
 * other types (MESSENGER, TWITTER, SLACK, MOBILE) have no reply channel yet.
 */
const UNIPILE_CHANNEL_OF: Readonly<Partial<Record<UnipileAccountType, UnipileChannelName>>> = {
  LINKEDIN: 'linkedin',
  INSTAGRAM: 'instagram',
  TELEGRAM: 'telegram',
  GOOGLE: 'email',
  OUTLOOK: 'email',
  MAIL: 'email',
};

/** The tenant's sending account per channel: what `channel_unavailable` is decided on. */
export function tenantChannels(tenant: Tenant): TenantChannels {
  const out: Partial<Record<ReplyChannelName, string>> = {};
  const whatsapp = tenant.whatsapp?.phoneNumberIds?.[0];
  if (whatsapp) out.whatsapp = whatsapp;
  // WhatsApp Web sends from the tenant's (first) Evolution instance, SMS from its GHL location.
  const whatsappWeb = tenant.whatsappWeb?.instances?.[0];
  if (whatsappWeb) out.whatsapp_web = whatsappWeb;
  const sms = tenant.ghl?.locationIds?.[0];
  if (sms) out.sms = sms;
  for (const accountId of tenant.unipile?.accountIds ?? []) {
    const type = tenant.unipile?.accountTypes?.[accountId];
    const channel = type ? UNIPILE_CHANNEL_OF[type] : undefined;
    if (channel) out[channel] ??= accountId;
  }
  return out;
}

/**
 * A tenant read at most once per 10 s per container (its DSN, rate and policy: a change takes
 * effect within 10 s), on the clock seam.
 */
const tenants = new TtlCache<Tenant>({ ttlMs: 10_000, clock: systemClock });
function cachedTenant(tenantId: string): Promise<Tenant | undefined> {
  return tenants.get(tenantId, () => tenantStore().get(tenantId));
}

/**
 * A tenant's Unipile key opened at most once per minute per container: a new key set through
 * `PUT /v1/tenants/{id}/providers/unipile` is used within 60 s (a 401 meanwhile is a permanent
 * rejection of that reply, which an operator retry sends again).
 */
const unipileKeys = new TtlCache<string>({ ttlMs: 60_000, clock: systemClock });

/** Where and with what key a tenant's Unipile calls go, looked up per send. */
export function unipileChannelOptions(): UnipileChannelOptions {
  return {
    baseUrl: async (send) => {
      const dsn = (await cachedTenant(send.tenantId))?.unipile?.dsn;
      if (!dsn) throw new UnipileNotConfiguredError('the tenant has no Unipile DSN');
      return checkedUnipileBaseUrl(dsn, dnsResolver);
    },
    apiKey: async (send) => {
      const key = await unipileKeys.get(send.tenantId, () => unipileApiKey(send.tenantId));
      if (!key) throw new UnipileNotConfiguredError('the tenant has set no Unipile API key');
      return key;
    },
    timeoutMs: PROVIDER_TIMEOUT_MS,
    now: () => systemClock.now(),
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
  const unipile = unipileChannelOptions();
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
    linkedin: createUnipileChannel('linkedin', unipile),
    instagram: createUnipileChannel('instagram', unipile),
    telegram: createUnipileChannel('telegram', unipile),
    email: createUnipileChannel('email', unipile),
  };
  return channels;
}

/** How each channel's echo of a sent message is keyed by the inbound webhooks. */
export const echoKeyOf: EchoKeyOf = (channel, providerMessageId) => {
  if (channel === 'whatsapp') return messageKeys.cloud(providerMessageId);
  if (channel === 'whatsapp_web') return messageKeys.web(providerMessageId);
  if (channel === 'sms') return messageKeys.ghl(providerMessageId);
  // Unipile: a chat reply's own-user `message_received` carries the `message_id` the send answered;
  // an e-mail reply's `mail_sent` carries the `tracking_id` (`webhooks/unipile.ts`).
  if (channel === 'linkedin' || channel === 'instagram' || channel === 'telegram') {
    return messageKeys.unipile(providerMessageId);
  }
  if (channel === 'email') return messageKeys.unipileSent(providerMessageId);
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

/** The `ai_triage` job's way to send its draft as a reply (`ai-replies.ts`). */
export function aiReplyPort(): AiReplyPort {
  return aiReplies({ ...replyDeps(), tenant: cachedTenant, channelsOf: tenantChannels });
}
