/**
 * Unipile's own definitions for the tests: the TypeBox schemas `unipile-node-sdk` 1.9.3 validates
 * requests and answers with. The package exports only its root, which leaves most of them out, so
 * they are loaded from its CommonJS build by file path (the same objects the SDK uses).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SendEmailInput } from 'unipile-node-sdk';

const require = createRequire(import.meta.url);
const sdkFile = (path: string) =>
  require(
    fileURLToPath(new URL(`../../node_modules/unipile-node-sdk/dist/cjs/${path}`, import.meta.url)),
  );

interface Check {
  Check(value: unknown): boolean;
  Errors(value: unknown): Iterable<{ path: string; message: string }>;
}
interface Schema {
  readonly properties: Record<
    string,
    { items?: { properties?: Record<string, { enum?: string[] }> } }
  >;
}

const messageSend = sdkFile('messaging/messages/message-send.types.js') as {
  SendMessageToChatBodyValidator: Check;
  MessageSentResponseValidator: Check;
};
const mailSend = sdkFile('mails/mail.send.types.js') as { MailSentApiResponseValidator: Check };
const mailList = sdkFile('mails/mails-list.types.js') as { MailListApiResponseValidator: Check };
const webhookCreate = sdkFile('webhooks/webhooks-create.types.js') as {
  WebhookCreateBodyValidator: Check;
  WebhookCreateResponseValidator: Check;
  WebhookCreateMessagingBodySchema: Schema;
  WebhookCreateEmailBodySchema: Schema;
};

/** `POST /api/v1/chats/{chat_id}/messages`: the body and the answer. */
export const sendMessageBody = messageSend.SendMessageToChatBodyValidator;
export const messageSentAnswer = messageSend.MessageSentResponseValidator;
/** `POST /api/v1/emails`: the answer. */
export const emailSentAnswer = mailSend.MailSentApiResponseValidator;
/** `GET /api/v1/emails`: the answer. */
export const emailListAnswer = mailList.MailListApiResponseValidator;
/** `POST /api/v1/webhooks`: the body and the answer. */
export const webhookCreateBody = webhookCreate.WebhookCreateBodyValidator;
export const webhookCreateAnswer = webhookCreate.WebhookCreateResponseValidator;

/** The payload fields a webhook of each source can carry (the SDK's `data[].key` enums). */
function dataKeys(schema: Schema): ReadonlySet<string> {
  return new Set(schema.properties.data?.items?.properties?.key?.enum ?? []);
}
export const messagingPayloadKeys = dataKeys(webhookCreate.WebhookCreateMessagingBodySchema);
export const emailPayloadKeys = dataKeys(webhookCreate.WebhookCreateEmailBodySchema);

/**
 * Every field of `SendEmailInput` (the SDK's `email.send` input, sent as form fields): the
 * `satisfies` and the `Exclude` make this list fail to compile when the SDK's type gains or
 * loses a field.
 */
export const SEND_EMAIL_FIELDS = [
  'account_id',
  'to',
  'cc',
  'bcc',
  'from',
  'subject',
  'draft_id',
  'body',
  'attachments',
  'custom_headers',
  'tracking_options',
  'reply_to',
] as const satisfies readonly (keyof SendEmailInput)[];
type Unlisted = Exclude<keyof SendEmailInput, (typeof SEND_EMAIL_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : never = true;
void everyFieldListed;

export function errorsOf(check: Check, value: unknown): string[] {
  return [...check.Errors(value)].map((e) => `${e.path} ${e.message}`);
}
