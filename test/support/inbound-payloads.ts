/**
 * Provider webhook payloads built from the recorded fixtures (`test/fixtures/inbound/`), so every
 * test and bench sends what the provider sends, with only the ids it needs changed.
 */
import { readFileSync } from 'node:fs';

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/inbound/${name}.json`, import.meta.url), 'utf8'),
  );
}

/** A Cloud API text message payload addressed to one business phone number id. */
export function cloudText(
  tenant: { readonly phoneNumberId: string },
  opts: { wamid: string; from?: string; body?: string; name?: string; userId?: string },
): string {
  const payload = fixture('whatsapp-cloud-text') as {
    entry: Array<{ changes: Array<{ value: Record<string, unknown> }> }>;
  };
  const value = payload.entry[0]?.changes[0]?.value as Record<string, unknown>;
  value.metadata = { display_phone_number: '15550783881', phone_number_id: tenant.phoneNumberId };
  const from = opts.from ?? '972501234567';
  value.contacts = [
    {
      profile: { name: opts.name ?? 'Dana Levi' },
      ...(opts.from !== '' ? { wa_id: from } : {}),
      ...(opts.userId ? { user_id: opts.userId } : {}),
    },
  ];
  value.messages = [
    {
      ...(opts.from !== '' ? { from } : {}),
      ...(opts.userId ? { from_user_id: opts.userId } : {}),
      id: opts.wamid,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'text',
      text: { body: opts.body ?? 'Hi, is the apartment still available?' },
    },
  ];
  return JSON.stringify(payload);
}
