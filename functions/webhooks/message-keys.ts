/**
 * The dedupe key of each provider's messages: the one place a message's provider identity is
 * spelled, used by the live webhooks and by anything that files the same messages another way (the
 * legacy import, `inspect webhook`), so a message imported and then redelivered live is one message.
 *
 * - WhatsApp Cloud API: `wamid:<messages[].id>` (the id always starts `wamid.`).
 * - WhatsApp Web (Baileys via Evolution API): `wa_web:<key.id>`.
 * - GoHighLevel SMS with a provider message id: `ghl_sms:id:<id>`; without one the key is a hash
 *   of the payload's stable fields (`ghl-dedupe-key.ts`), which no other source can rebuild.
 */
export const messageKeys = {
  cloud: (wamid: string) => `wamid:${wamid}`,
  web: (keyId: string) => `wa_web:${keyId}`,
  ghl: (providerMessageId: string) => `ghl_sms:id:${providerMessageId}`,
} as const;

export type MessageProvider = keyof typeof messageKeys;
export const MESSAGE_PROVIDERS = Object.keys(messageKeys) as MessageProvider[];
