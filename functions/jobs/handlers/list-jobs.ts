/** Trigger: HTTP API `GET /v1/messages/{messageId}/jobs` (operator key): a message's jobs, at most one per type. */

import { ddb } from '../../kernel/clients.js';
import { tableName } from '../../kernel/config.js';
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { readMessagePartition } from '../job-store.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const messageId = pathParam(request, 'messageId');
  const { message, jobs, interactions } = await readMessagePartition(
    ddb,
    tableName('inbound'),
    messageId,
  );
  // A message item without a conversation is only the claim of a delivery that has not filed it
  // (yet, or ever: it crashed and was not redelivered): there is no such message to show.
  if (!message || message.tenantId !== tenantId || typeof message.conversationId !== 'string')
    throw new NotFoundError('No such message.');
  return {
    status: 200,
    body: {
      jobs: jobs.map((j) => ({
        type: j.jobType,
        status: j.status,
        attempts: j.attempts,
        source: j.source,
        updatedAt: j.updatedAt,
      })),
      interactions: interactions.map((i) => ({
        source: i.source,
        model: i.model,
        promptTokens: i.promptTokens,
        completionTokens: i.completionTokens,
        latencyMs: i.latencyMs,
      })),
    },
  };
});
