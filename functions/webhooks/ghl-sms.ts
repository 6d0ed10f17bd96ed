/**
 * A GoHighLevel workflow webhook for an inbound SMS. Only the fields onceflow reads are validated;
 * the rest of GHL's contact dump passes through untouched. The dedupe key is in `ghl-dedupe-key.ts`.
 */
import { z } from 'zod';
import { identifyPerson } from '../conversations/identity.js';
import {
  type InboundDeps,
  type StoreResult,
  storeMessage,
} from '../conversations/store-message.js';
import { InvalidRequestError } from '../kernel/errors.js';
import type { Tenant } from '../tenants/tenant-store.js';
import { ghlBody, ghlDedupeKey, ghlProviderId } from './ghl-dedupe-key.js';
import { providerTime } from './provider-time.js';

const scalar = z.union([z.string().max(1024), z.number(), z.boolean()]);

export const ghlSmsSchema = z.looseObject({
  contact_id: z.string().min(1).max(256),
  phone: z.string().max(64).optional().nullable(),
  full_name: z.string().max(512).optional().nullable(),
  date_created: scalar.optional().nullable(),
  location: z.looseObject({ id: z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/) }),
  workflow: z.looseObject({ id: scalar.optional().nullable() }).optional().nullable(),
  message: z
    .looseObject({
      body: z.string().max(16384).optional().nullable(),
      id: scalar.optional().nullable(),
    })
    .optional()
    .nullable(),
  messageId: scalar.optional().nullable(),
  customData: z
    .looseObject({
      Date: scalar.optional().nullable(),
      Time: scalar.optional().nullable(),
      Message: z.string().max(16384).optional().nullable(),
    })
    .optional()
    .nullable(),
});

export type GhlSms = z.output<typeof ghlSmsSchema>;

export async function receiveGhlSms(
  deps: InboundDeps,
  tenant: Tenant,
  payload: GhlSms,
): Promise<StoreResult> {
  const person = identifyPerson([], {
    phone: payload.phone ?? undefined,
    defaultCountry: tenant.defaultCountry,
  });
  if (!person.e164) {
    throw new InvalidRequestError('The contact phone is not a valid phone number.', [
      {
        field: 'phone',
        message: `must be a phone number (national numbers use ${tenant.defaultCountry})`,
      },
    ]);
  }
  const providerId = ghlProviderId(payload);
  return storeMessage(deps, {
    tenantId: tenant.tenantId,
    channel: 'sms',
    direction: 'in',
    dedupeKey: ghlDedupeKey(tenant.tenantId, payload),
    ...(providerId ? { providerMessageId: providerId } : {}),
    body: ghlBody(payload),
    createdAt:
      typeof payload.date_created === 'string' && !Number.isNaN(Date.parse(payload.date_created))
        ? providerTime(Math.floor(Date.parse(payload.date_created) / 1000), deps.clock.now())
        : new Date(deps.clock.now()).toISOString(),
    person,
    ...(payload.full_name ? { profileName: payload.full_name } : {}),
  });
}
