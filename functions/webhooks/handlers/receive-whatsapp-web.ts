/**
 * Trigger: HTTP API `POST /webhooks/whatsapp-web` and `POST /webhooks/whatsapp-web/{event}`
 * (Baileys gateway events, Evolution API v2 shape, the second for Evolution's "webhook by events"
 * mode; tenant webhook token).
 */

import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, parseJsonBody } from '../../kernel/http.js';
import { inboundDeps } from '../deps.js';
import { authenticateWebhook, requireWebhookToken } from '../webhook-auth.js';
import {
  carriesMessages,
  gatewayEnvelopeSchema,
  isEvolutionEventPath,
  parseUpsertData,
  receiveGatewayMessages,
} from '../whatsapp-web.js';

export const handler = httpHandler(async (request) => {
  const eventPath = request.pathParameters.event;
  if (eventPath !== undefined && !isEvolutionEventPath(eventPath)) {
    throw new NotFoundError('No Evolution event is posted to this path.');
  }
  const token = requireWebhookToken(request, 'whatsapp_web_instance');
  const envelope = parseJsonBody(request, gatewayEnvelopeSchema);
  const tenant = await authenticateWebhook(token, 'whatsapp_web_instance', envelope.instance);
  if (!carriesMessages(envelope.event)) return { status: 200, body: { ignored: true } };
  const data = parseUpsertData(envelope.data);
  return {
    status: 200,
    body: await receiveGatewayMessages(inboundDeps(), tenant, data, { ownId: envelope.sender }),
  };
});
