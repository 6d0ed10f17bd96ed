/**
 * Replies on the WhatsApp Cloud API: `POST /{version}/{phoneNumberId}/messages`, `type: "text"`
 * (within the 24-hour service window) or `type: "template"`, with `biz_opaque_callback_data` = the
 * reply's `messageId` (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages:
 * "biz_opaque_callback_data: an arbitrary string, useful for tracking", echoed on every status
 * webhook of the message). The campaigns' Graph client makes the call and classifies its ending.
 *
 * Client id / handle: Meta takes no client-chosen message id, but echoes the handle on statuses.
 * Unknown-outcome evidence: the status webhooks (`sent`, `delivered`, ...) carrying the handle; the
 * Cloud API has no endpoint to read a sent message back, so there is no `findSent`.
 */
import type { SendResult, WhatsAppSender } from '../../campaigns/index.js';
import type { ReplyChannel, ReplySendResult } from '../channel.js';

function toReplyResult(result: SendResult): ReplySendResult {
  if (result.kind === 'accepted') return { kind: 'accepted', providerMessageId: result.wamid };
  if (result.kind === 'unknown') return result;
  return {
    kind: 'rejected',
    // Throughput, transient and the per-user pair rate are worth another call later.
    retry: result.class !== 'permanent',
    httpStatus: result.httpStatus,
    code: result.code === undefined ? undefined : String(result.code),
    message: result.message,
  };
}

export function whatsappCloudChannel(client: WhatsAppSender): ReplyChannel {
  return {
    name: 'whatsapp',
    async send(send) {
      if (send.template) {
        return toReplyResult(
          await client.sendTemplate({
            phoneNumberId: send.from,
            to: send.to,
            template: {
              name: send.template.name,
              language: send.template.language,
              ...(send.template.components ? { components: send.template.components } : {}),
            },
            callbackData: send.messageId,
          }),
        );
      }
      if (!client.sendText) {
        return {
          kind: 'rejected',
          retry: false,
          httpStatus: 0,
          code: undefined,
          message: 'text sends are not supported by this client',
        };
      }
      return toReplyResult(
        await client.sendText({
          phoneNumberId: send.from,
          to: send.to,
          body: send.body ?? '',
          callbackData: send.messageId,
        }),
      );
    },
  };
}
