/**
 * The WhatsApp Cloud API webhook: the payload schema, and what each message and status of every
 * entry and change means for onceflow. Signature checking happens before this (kernel
 * `webhook-signature.ts`); the whole payload is validated before anything is written, so a
 * malformed delivery stores nothing.
 */
import { applyWhatsAppStatus, type WhatsAppStatusEvent } from '../campaigns/index.js';
import {
  applyOutboundStatus,
  type InboundDeps,
  messageIdFor,
  parseWhatsAppId,
  REPLY_ID,
} from '../conversations/index.js';
import * as z from '../kernel/zod.js';
import { type Tenant, tenantStore } from '../tenants/index.js';
import { fileMessageFrom } from './file-message.js';
import { messageKeys } from './items.js';
import { type OutcomeCounts, OutcomeTally } from './outcomes.js';
import { providerId as id, providerText as text } from './payload-fields.js';
import { providerTime } from './provider-time.js';

const messageSchema = z.looseObject({
  id,
  from: z.optional(id),
  from_user_id: z.optional(id),
  from_parent_user_id: z.optional(id),
  timestamp: z.optional(z.union([z.string().check(z.maxLength(20)), z.number()])),
  type: z.optional(z.string().check(z.maxLength(64))),
  text: z.optional(z.looseObject({ body: text })),
  button: z.optional(z.looseObject({ text: z.optional(text) })),
  interactive: z.optional(
    z.looseObject({
      button_reply: z.optional(z.looseObject({ title: z.optional(text) })),
      list_reply: z.optional(z.looseObject({ title: z.optional(text) })),
    }),
  ),
  image: z.optional(z.looseObject({ caption: z.optional(text) })),
  video: z.optional(z.looseObject({ caption: z.optional(text) })),
  document: z.optional(z.looseObject({ caption: z.optional(text) })),
  reaction: z.optional(z.looseObject({ emoji: z.optional(z.string().check(z.maxLength(64))) })),
});

const statusSchema = z.looseObject({
  id,
  status: z.string().check(z.maxLength(32)),
  timestamp: z.optional(z.union([z.string().check(z.maxLength(20)), z.number()])),
  recipient_id: z.optional(id),
  recipient_user_id: z.optional(id),
  recipient_type: z.optional(z.string().check(z.maxLength(32))),
  recipient_participant_id: z.optional(id),
  biz_opaque_callback_data: z.optional(z.string().check(z.maxLength(1024))),
  errors: z.optional(
    z
      .array(
        z.looseObject({
          code: z.optional(z.number()),
          title: z.optional(z.string().check(z.maxLength(1024))),
        }),
      )
      .check(z.maxLength(20)),
  ),
});

const contactSchema = z.looseObject({
  wa_id: z.optional(id),
  user_id: z.optional(id),
  parent_user_id: z.optional(id),
  profile: z.optional(z.looseObject({ name: z.optional(z.string().check(z.maxLength(512))) })),
});

const valueSchema = z.looseObject({
  metadata: z.optional(z.looseObject({ phone_number_id: id })),
  contacts: z.optional(z.array(contactSchema).check(z.maxLength(100))),
  messages: z.optional(z.array(messageSchema).check(z.maxLength(100))),
  statuses: z.optional(z.array(statusSchema).check(z.maxLength(100))),
});

export const cloudWebhookSchema = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(
      z.looseObject({
        id: z.optional(id),
        changes: z
          .array(
            z.looseObject({
              field: z.optional(z.string().check(z.maxLength(128))),
              value: valueSchema,
            }),
          )
          .check(z.maxLength(100)),
      }),
    )
    .check(z.maxLength(100)),
});

export type CloudWebhook = z.output<typeof cloudWebhookSchema>;
type CloudMessage = z.output<typeof messageSchema>;

/**
 * The statuses of Meta's status webhook reference
 * (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/):
 * `played` is a voice message the recipient played, which it could only do having read it, so it
 * counts as `read` for a contact.
 */
const STATUSES: Readonly<Record<string, WhatsAppStatusEvent['status']>> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  played: 'read',
  failed: 'failed',
};

export function messageText(m: CloudMessage): string {
  return (
    m.text?.body ??
    m.button?.text ??
    m.interactive?.button_reply?.title ??
    m.interactive?.list_reply?.title ??
    m.image?.caption ??
    m.video?.caption ??
    m.document?.caption ??
    m.reaction?.emoji ??
    `[${m.type ?? 'message'}]`
  );
}

export type CloudOutcome = OutcomeCounts;

export async function receiveCloudWebhook(
  deps: InboundDeps,
  payload: CloudWebhook,
  lookupTenant: (phoneNumberId: string) => Promise<Tenant | undefined> = (pid) =>
    tenantStore().findByClaim('whatsapp_phone', pid),
): Promise<CloudOutcome> {
  const tally = new OutcomeTally('whatsapp_cloud');
  const tenants = new Map<string, Promise<Tenant | undefined>>();
  for (const entry of payload.entry) {
    for (const change of entry.changes) {
      const value = change.value;
      const messages = value.messages ?? [];
      const statuses = value.statuses ?? [];
      if (messages.length === 0 && statuses.length === 0) continue;
      const phoneNumberId = value.metadata?.phone_number_id;
      const tenantLookup = phoneNumberId
        ? (tenants.get(phoneNumberId) ??
          tenants.set(phoneNumberId, lookupTenant(phoneNumberId)).get(phoneNumberId))
        : undefined;
      const tenant = await tenantLookup;
      if (!tenant || !phoneNumberId) {
        const reason = phoneNumberId ? 'unknown_phone_number_id' : 'no_phone_number_id';
        for (let i = 0; i < messages.length + statuses.length; i++)
          tally.record('unroutable', reason, { phoneNumberId });
        continue;
      }
      for (const message of messages) {
        const contact =
          value.contacts?.find(
            (c) =>
              (c.wa_id && c.wa_id === message.from) ||
              (c.user_id && c.user_id === message.from_user_id),
          ) ?? (value.contacts?.length === 1 ? value.contacts[0] : undefined);
        await fileMessageFrom(
          deps,
          tally,
          tenant,
          [
            message.from,
            contact?.wa_id,
            message.from_user_id,
            contact?.user_id,
            message.from_parent_user_id,
            contact?.parent_user_id,
          ],
          () => ({
            channel: 'whatsapp',
            direction: 'in',
            dedupeKey: messageKeys.cloud(message.id),
            providerMessageId: message.id,
            body: messageText(message),
            createdAt: providerTime(message.timestamp, deps.clock.now()),
            ...(contact?.profile?.name ? { profileName: contact.profile.name } : {}),
          }),
        );
      }
      for (const status of statuses) {
        const statusName = STATUSES[status.status];
        if (!statusName) {
          tally.record('invalid', 'unsupported_status', { tenantId: tenant.tenantId });
          continue;
        }
        // A message to a group names the group in `recipient_id` and the member in
        // `recipient_participant_id` (`recipient_type: "group"`).
        const recipient = parseWhatsAppId(
          status.recipient_type === 'group' ? status.recipient_participant_id : status.recipient_id,
        );
        const event: WhatsAppStatusEvent = {
          tenantId: tenant.tenantId,
          phoneNumberId,
          wamid: status.id,
          status: statusName,
          occurredAt: providerTime(status.timestamp, deps.clock.now()),
          ...(recipient?.kind === 'phone' ? { recipientPhone: recipient.e164 } : {}),
          ...(status.biz_opaque_callback_data !== undefined
            ? { bizOpaqueCallbackData: status.biz_opaque_callback_data }
            : {}),
          ...(status.errors
            ? { errors: status.errors.map((e) => ({ code: e.code, title: e.title })) }
            : {}),
        };
        // A reply onceflow sent (its id is the callback data, or its record claimed this wamid).
        // (A campaign's callback data names the campaign: no reply lookup for those.)
        const handle = event.bizOpaqueCallbackData;
        const reply =
          handle === undefined || REPLY_ID.test(handle)
            ? await applyOutboundStatus(deps, tenant.tenantId, {
                ...(event.bizOpaqueCallbackData ? { handle: event.bizOpaqueCallbackData } : {}),
                echoMessageId: messageIdFor(tenant.tenantId, messageKeys.cloud(status.id)),
                providerMessageId: status.id,
                status: statusName,
                ...(status.errors?.[0]?.title ? { error: status.errors[0].title } : {}),
              })
            : undefined;
        if (reply) {
          if (!reply.matched) tally.record('unroutable', 'status_of_no_reply');
          else tally.record(reply.applied ? 'stored' : 'deduped', 'reply_status');
          continue;
        }
        const applied = await applyWhatsAppStatus(event, deps.clock);
        if (!applied.matched) tally.record('unroutable', 'status_of_no_campaign_message');
        else if (applied.applied) tally.record('stored', 'status');
        else tally.record('deduped', 'status_not_newer');
      }
    }
  }
  return tally.totals();
}
