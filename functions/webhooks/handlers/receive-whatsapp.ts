/**
 * Trigger: HTTP API `GET /webhooks/whatsapp` (Meta's verify challenge) and `POST /webhooks/whatsapp`
 * (the WhatsApp Cloud API webhook, signed with `X-Hub-Signature-256` over the raw body).
 */

import { ForbiddenError, UnauthorizedError } from '../../kernel/errors.js';
import { header, httpHandler, parseJsonBody } from '../../kernel/http.js';
import { constantTimeEqual, platformSecret } from '../../kernel/secrets.js';
import { verifyHubSignature } from '../../kernel/webhook-signature.js';
import { cloudTenantLookup, inboundDeps } from '../deps.js';
import { logRejected } from '../outcomes.js';
import { cloudWebhookSchema, receiveCloudWebhook } from '../whatsapp-cloud.js';

export const handler = httpHandler(async (request) => {
  if (request.method === 'GET') {
    const {
      'hub.mode': mode,
      'hub.verify_token': token,
      'hub.challenge': challenge,
    } = request.query;
    const expected = await platformSecret('whatsappVerifyToken');
    if (
      mode !== 'subscribe' ||
      !token ||
      !challenge ||
      challenge.length > 512 ||
      !constantTimeEqual(token, expected)
    ) {
      logRejected('whatsapp_cloud', 'verify_token_mismatch');
      throw new ForbiddenError('The verify token does not match.');
    }
    return { status: 200, body: challenge };
  }
  const secret = await platformSecret('whatsappAppSecret');
  if (!verifyHubSignature(request.rawBody, header(request, 'x-hub-signature-256'), secret)) {
    logRejected('whatsapp_cloud', 'bad_signature');
    throw new UnauthorizedError('X-Hub-Signature-256 is missing or does not match the body.');
  }
  const payload = parseJsonBody(request, cloudWebhookSchema);
  return {
    status: 200,
    body: await receiveCloudWebhook(inboundDeps(), payload, cloudTenantLookup()),
  };
});
