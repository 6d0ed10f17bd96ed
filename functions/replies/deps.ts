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
import { createTokenBucket, type TokenBucket } from '../kernel/token-bucket.js';
import { type Tenant, tenantStore } from '../tenants/index.js';
import { messageKeys } from '../webhooks/index.js';
import { aiReplies } from './ai-replies.js';
import type { ReplyChannel, ReplyChannelName } from './channel.js';
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

/** The tenant's sending account per channel: what `channel_unavailable` is decided on. */
export function tenantChannels(tenant: Tenant): TenantChannels {
  const whatsapp = tenant.whatsapp?.phoneNumberIds?.[0];
  return { ...(whatsapp ? { whatsapp } : {}) };
}

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

/** The `ai_triage` job's way to send its draft as a reply (`ai-replies.ts`). */
export function aiReplyPort(): AiReplyPort {
  return aiReplies({ ...replyDeps(), tenant: cachedTenant, channelsOf: tenantChannels });
}
