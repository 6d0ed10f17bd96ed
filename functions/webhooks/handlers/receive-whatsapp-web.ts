/** Trigger: HTTP API `POST /webhooks/whatsapp-web` (Baileys gateway events, Evolution API v2 shape; tenant webhook token). */

import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { inboundDeps } from '../deps.js';
import { authenticateWebhook, requireWebhookToken } from '../webhook-auth.js';
import {
  gatewayEnvelopeSchema,
  isMessagesUpsert,
  parseUpsertData,
  receiveGatewayMessages,
} from '../whatsapp-web.js';

export const handler = httpHandler(async (request) => {
  requireWebhookToken(request, 'whatsapp_web_instance');
  const envelope = parseJsonBody(request, gatewayEnvelopeSchema);
  const tenant = await authenticateWebhook(request, 'whatsapp_web_instance', envelope.instance);
  if (!isMessagesUpsert(envelope.event)) return { status: 200, body: { ignored: true } };
  const data = parseUpsertData(envelope.data);
  return { status: 200, body: await receiveGatewayMessages(inboundDeps(), tenant, data) };
});
