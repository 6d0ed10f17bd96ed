/**
 * Trigger: HTTP API `POST /webhooks/unipile` (Unipile's messaging, e-mail and account webhooks;
 * the tenant's webhook token in `X-Webhook-Token`, a custom header Unipile sends when the webhook is
 * created with `headers`, or `?token=`).
 */

import { InvalidRequestError } from '../../kernel/errors.js';
import { httpHandler, jsonBody, parseWith } from '../../kernel/http.js';
import { inboundDeps } from '../deps.js';
import {
  accountOf,
  kindOf,
  parseUnipileMail,
  parseUnipileMessage,
  parseUnipileMessageStatus,
  receiveUnipileMail,
  receiveUnipileMessage,
  receiveUnipileStatus,
  unipileEnvelopeSchema,
} from '../unipile.js';
import { authenticateWebhook, requireWebhookToken } from '../webhook-auth.js';

export const handler = httpHandler(async (request) => {
  const token = requireWebhookToken(request, 'unipile_account');
  const body = jsonBody(request);
  const envelope = parseWith(unipileEnvelopeSchema, body);
  const accountId = accountOf(envelope);
  if (!accountId) {
    throw new InvalidRequestError('The payload names no Unipile account.', [
      { field: 'account_id', message: 'is required' },
    ]);
  }
  const tenant = await authenticateWebhook(token, 'unipile_account', accountId);
  const kind = kindOf(envelope.event);
  if (kind === 'ignored') return { status: 200, body: { ignored: true } };
  const counts =
    kind === 'message'
      ? await receiveUnipileMessage(inboundDeps(), tenant, parseUnipileMessage(body))
      : kind === 'status'
        ? await receiveUnipileStatus(inboundDeps(), tenant, parseUnipileMessageStatus(body))
        : await receiveUnipileMail(inboundDeps(), tenant, parseUnipileMail(body));
  return { status: 200, body: counts };
});
