/**
 * Trigger: the HTTP API `$default` route (declared in the manifest with `defaultRoute: true`):
 * every request no route matches gets the contract's 404, on AWS as locally.
 */
import { NotFoundError } from '../../kernel/errors.js';
import { httpHandler } from '../../kernel/http.js';

export const handler = httpHandler(async (request) => {
  throw new NotFoundError(`No route for ${request.method} ${request.path}.`);
});
