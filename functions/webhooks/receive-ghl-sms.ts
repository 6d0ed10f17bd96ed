/** Trigger: HTTP API `POST /webhooks/ghl/sms` (a GoHighLevel workflow webhook; tenant webhook token). */

import { inboundDeps } from '../conversations/runtime-deps.js';
import { ddb } from '../kernel/clients.js';
import { UnauthorizedError } from '../kernel/errors.js';
import { httpHandler, parseJsonBody } from '../kernel/http.js';
import { ghlSmsSchema, receiveGhlSms } from './ghl-sms.js';
import { authenticateWebhook, webhookToken } from './webhook-auth.js';

export const handler = httpHandler(async (request) => {
  if (!webhookToken(request))
    throw new UnauthorizedError('A webhook token is required (X-Webhook-Token or ?token=).');
  const payload = parseJsonBody(request, ghlSmsSchema);
  const tenant = await authenticateWebhook(ddb, request, 'ghl_location', payload.location.id);
  const result = await receiveGhlSms(inboundDeps(), tenant, payload);
  return {
    status: 200,
    body: { success: true, deduped: result.deduped, messageId: result.messageId },
  };
});
