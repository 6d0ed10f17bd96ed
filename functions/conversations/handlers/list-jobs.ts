/** Trigger: HTTP API `GET /v1/messages/{messageId}/jobs` (operator key): a message's jobs, at most one per type. */

import { httpHandler, pathParam } from '../../kernel/http.js';
import { authenticate } from '../../tenants/index.js';
import { messageJobStore } from '../deps.js';
import { messageJobs } from '../message-jobs.js';

export const handler = httpHandler(async (request) => {
  const tenantId = await authenticate(request, 'api');
  const body = await messageJobs(messageJobStore(), tenantId, pathParam(request, 'messageId'));
  return { status: 200, body };
});
