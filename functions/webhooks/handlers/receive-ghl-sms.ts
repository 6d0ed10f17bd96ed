/** Trigger: HTTP API `POST /webhooks/ghl/sms` (a GoHighLevel workflow webhook; tenant webhook token). */

import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { ghlSmsDeps } from '../deps.js';
import { ghlSmsSchema, receiveGhlSms } from '../ghl-sms.js';
import { authenticateWebhook, requireWebhookToken } from '../webhook-auth.js';

export const handler = httpHandler(async (request) => {
  const token = requireWebhookToken(request, 'ghl_location');
  const payload = parseJsonBody(request, ghlSmsSchema);
  const tenant = await authenticateWebhook(token, 'ghl_location', payload.location.id);
  const deps = ghlSmsDeps();
  const result = await receiveGhlSms(deps.inbound, tenant, payload, deps.options);
  return {
    status: 200,
    body: {
      success: true,
      deduped: result.deduped,
      messageId: result.messageId,
      dedupeRule: result.dedupeRule,
    },
  };
});
