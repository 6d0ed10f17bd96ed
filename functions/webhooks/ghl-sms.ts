/**
 * A GoHighLevel workflow webhook for an inbound SMS. Only the fields onceflow reads are validated;
 * the rest of GHL's contact dump passes through untouched. The dedupe key is in `ghl-dedupe-key.ts`.
 *
 * Without a provider id or a mapped message time, two identical texts of one contact in one
 * workflow ("Ok", "Yes") have the same key. Such a key is trusted only for a window (default
 * 7,200 s, longer than GHL's retry horizon of six retries ~10 minutes apart): a claim item
 * `GHLWINDOW#<key>` names the message the key stands for until it expires, written in the message's
 * own transaction (`attribute_not_exists` or expired), so a retry within the window is deduplicated
 * and the same text after it is a new message.
 */

import {
  ClaimLostError,
  type InboundDeps,
  type IncomingMessage,
  identifyPerson,
  type StoreResult,
  storeMessage,
} from '../conversations/index.js';
import { InvalidRequestError } from '../kernel/errors.js';
import * as z from '../kernel/zod.js';
import type { Tenant } from '../tenants/index.js';
import {
  type GhlDedupeRule,
  ghlBody,
  ghlDedupeKey,
  ghlDedupeRule,
  ghlMessageTime,
  ghlProviderId,
} from './ghl-dedupe-key.js';
import type { GhlWindowStore } from './ghl-window-store.js';
import { ghlKeys, ghlWindowClaimItem, keys } from './items.js';
import { providerTime } from './provider-time.js';

const scalar = z.union([z.string().check(z.maxLength(1024)), z.number(), z.boolean()]);

export const ghlSmsSchema = z.looseObject({
  contact_id: z.string().check(z.minLength(1), z.maxLength(256)),
  phone: z.nullable(z.optional(z.string().check(z.maxLength(64)))),
  full_name: z.nullable(z.optional(z.string().check(z.maxLength(512)))),
  date_created: z.nullable(z.optional(scalar)),
  location: z.looseObject({ id: z.string().check(z.regex(/^[A-Za-z0-9_.:@-]{1,128}$/)) }),
  workflow: z.nullable(z.optional(z.looseObject({ id: z.nullable(z.optional(scalar)) }))),
  message: z.nullable(
    z.optional(
      z.looseObject({
        body: z.nullable(z.optional(z.string().check(z.maxLength(16384)))),
        id: z.nullable(z.optional(scalar)),
      }),
    ),
  ),
  messageId: z.nullable(z.optional(scalar)),
  customData: z.nullable(
    z.optional(
      z.looseObject({
        Date: z.nullable(z.optional(scalar)),
        Time: z.nullable(z.optional(scalar)),
        Message: z.nullable(z.optional(z.string().check(z.maxLength(16384)))),
      }),
    ),
  ),
});

export type GhlSms = z.output<typeof ghlSmsSchema>;

export interface GhlResult extends StoreResult {
  readonly dedupeRule: GhlDedupeRule;
}

const MAX_CLAIM_ATTEMPTS = 5;

export async function receiveGhlSms(
  deps: InboundDeps,
  tenant: Tenant,
  payload: GhlSms,
  options: { readonly dedupeWindowSeconds: number; readonly windows: GhlWindowStore },
): Promise<GhlResult> {
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
  const mappedTime = ghlMessageTime(payload);
  const message = (dedupeKey: string): IncomingMessage => ({
    tenantId: tenant.tenantId,
    channel: 'sms',
    direction: 'in',
    dedupeKey,
    ...(providerId ? { providerMessageId: providerId } : {}),
    body: ghlBody(payload),
    // `date_created` is the contact's creation date, not the message's: only a mapped time counts.
    createdAt:
      mappedTime !== undefined
        ? providerTime(Math.floor(mappedTime / 1000), deps.clock.now())
        : new Date(deps.clock.now()).toISOString(),
    person,
    ...(payload.full_name ? { profileName: payload.full_name } : {}),
  });
  const dedupeRule = ghlDedupeRule(payload);
  const key = ghlDedupeKey(tenant.tenantId, payload);
  if (dedupeRule !== 'window') {
    return { ...(await storeMessage(deps, message(key))), dedupeRule };
  }
  for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
    const now = deps.clock.now();
    const live = await options.windows.liveClaim(key, now);
    if (live) return { ...(await storeMessage(deps, message(live.dedupeKey))), dedupeRule };
    const windowKey = ghlKeys.windowed(key, now);
    try {
      const stored = await storeMessage(deps, message(windowKey), {
        key: keys.ghlWindow(key),
        item: ghlWindowClaimItem({
          tenantId: tenant.tenantId,
          dedupeKey: windowKey,
          expiresAt: Math.ceil(now / 1000) + options.dedupeWindowSeconds,
        }),
        condition: 'attribute_not_exists(pk) OR expiresAt <= :nowSec',
        values: { ':nowSec': Math.floor(now / 1000) },
      });
      return { ...stored, dedupeRule };
    } catch (error) {
      if (!(error instanceof ClaimLostError)) throw error;
      // A concurrent delivery of the same text claimed the window first: read its claim.
    }
  }
  throw new Error('the GHL dedupe window claim kept changing');
}
