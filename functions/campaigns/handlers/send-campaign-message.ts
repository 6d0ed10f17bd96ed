/**
 * Trigger: SQS FIFO queue `sends` (batch, `ReportBatchItemFailures`). One message rings one
 * recipient; the recipient item decides what happens (see `sender.ts`). A refusal worth retrying
 * soon (130429, 5xx) fails just that record, so it comes back in its place in its message group.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { ddb } from '../../kernel/clients.js';
import { systemClock } from '../../kernel/clock.js';
import { settings, tableName } from '../../kernel/config.js';
import { fifoGroupConsumer } from '../../kernel/fifo-group-consumer.js';
import { platformSecret } from '../../kernel/secrets.js';
import { createTokenBucket } from '../../kernel/token-bucket.js';
import { getCampaign } from '../campaign-store.js';
import { cached, campaignStore, messagesPerSecond } from '../deps.js';
import { sendToRecipient } from '../sender.js';
import { assertSafeReconcileWindow, campaignSettings } from '../settings.js';
import {
  createWhatsAppClient,
  whatsappApiBaseUrl,
  whatsappApiVersion,
} from '../whatsapp-client.js';

const schema = z.object({
  tenantId: z.string().min(1),
  campaignId: z.string().min(1),
  phone: z.string().regex(/^\+\d{6,15}$/),
});

// Refused at init: a window that a provider call can outlast would allow a second send.
assertSafeReconcileWindow();

const whatsapp = createWhatsAppClient({
  baseUrl: whatsappApiBaseUrl(),
  version: whatsappApiVersion(),
  accessToken: () => platformSecret('whatsappAccessToken'),
  // Every provider call is bounded: the reconcile window is checked against this very value.
  timeoutMs: campaignSettings.providerTimeoutSeconds * 1000,
  // The version calendar is read on the clock seam.
  now: () => systemClock.now(),
});
const tokens = createTokenBucket({ ddb, table: tableName('campaigns') });
// Pausing reaches senders within about a second.
const campaignFor = cached(1000, async (key) => {
  const [tenantId = '', campaignId = ''] = key.split('|');
  return getCampaign(campaignStore(), tenantId, campaignId, false);
});

export const handler = fifoGroupConsumer({
  queue: 'sends',
  schema,
  handle: async (message) => {
    await sendToRecipient(
      {
        ddb,
        clock: systemClock,
        table: tableName('campaigns'),
        whatsapp,
        tokens,
        campaign: (tenantId, campaignId) => campaignFor(`${tenantId}|${campaignId}`),
        messagesPerSecond,
        owner: `${message.messageId}:${randomUUID()}`,
        leaseSeconds: settings.leaseSeconds,
        reconcileWindowSeconds: settings.reconcileWindowSeconds,
      },
      message.body,
    );
  },
});
