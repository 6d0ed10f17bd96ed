/** Trigger: HTTP API `POST /webhooks/whatsapp-web` (Baileys gateway events, Evolution API v2 shape; tenant webhook token). */

import { inboundDeps } from '../conversations/runtime-deps.js';
import { ddb } from '../kernel/clients.js';
import { UnauthorizedError } from '../kernel/errors.js';
import { httpHandler, parseJsonBody } from '../kernel/http.js';
import { authenticateWebhook, webhookToken } from './webhook-auth.js';
import {
  gatewayEnvelopeSchema,
  isMessagesUpsert,
  parseUpsertData,
  receiveGatewayMessages,
} from './whatsapp-web.js';

export const handler = httpHandler(async (request) => {
  if (!webhookToken(request))
    throw new UnauthorizedError('A webhook token is required (X-Webhook-Token or ?token=).');
  const envelope = parseJsonBody(request, gatewayEnvelopeSchema);
  const tenant = await authenticateWebhook(
    ddb,
    request,
    'whatsapp_web_instance',
    envelope.instance,
  );
  if (!isMessagesUpsert(envelope.event)) return { status: 200, body: { ignored: true } };
  const data = parseUpsertData(envelope.data);
  return { status: 200, body: await receiveGatewayMessages(inboundDeps(), tenant, data) };
});
