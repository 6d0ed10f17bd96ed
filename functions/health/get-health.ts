/** Trigger: HTTP API `GET /health`. Liveness only: it touches no table. */
import { httpHandler } from '../kernel/http.js';

export const handler = httpHandler(async () => ({ status: 200, body: { status: 'ok' } }));
