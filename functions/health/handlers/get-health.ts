/** Trigger: HTTP API `GET /health`. 200 only when the store answers a read; 503 otherwise. */
import { httpHandler } from '../../kernel/http.js';
import { healthDeps } from '../deps.js';
import { checkHealth } from '../health.js';

export const handler = httpHandler(async () => checkHealth(healthDeps().probe));
