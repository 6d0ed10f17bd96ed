/**
 * Operator `Idempotency-Key` semantics for POST routes that create something (api.md), built on
 * Powertools Idempotency with its DynamoDB persistence layer: a retry with the same key and body
 * gets the first response again; the same key with another body is 409 `idempotency_key_mismatch`;
 * a retry while the first is still running is 409 `request_in_progress`. Keys are scoped to the
 * tenant and route and kept for 48 hours (the contract promises at least 24).
 *
 * Routes take it as an option of the HTTP edge, `httpHandler(handle, { idempotencyKey:
 * idempotencyKeyed((request) => authenticate(request, 'api')) })`: the one path, declared per route.
 * Only answers are kept: a request that throws (a 4xx, a crash) leaves no record, so its retry runs.
 */
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { dynamodbClient } from './clients.js';
import { tableName } from './config.js';
import { ConflictError, InvalidRequestError } from './errors.js';
import { type HttpRequest, type HttpResponse, jsonBody, type RouteWrapper } from './http.js';

export const IDEMPOTENCY_KEY_TTL_SECONDS = 48 * 3600;

interface IdempotentCall {
  readonly scope: string;
  readonly key: string;
  readonly body: unknown;
}

let persistenceStore: DynamoDBPersistenceLayer | undefined;

/**
 * One idempotent runner per request: the config must carry this invocation's Lambda context, so an
 * in-progress record expires with the invocation's remaining time and a crashed request can be
 * retried instead of answering `request_in_progress` until the key's TTL.
 */
function idempotentRunner(context: Context | undefined) {
  persistenceStore ??= new DynamoDBPersistenceLayer({
    tableName: tableName('idempotency'),
    awsSdkV3Client: dynamodbClient,
  });
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[scope, key]',
    payloadValidationJmesPath: 'body',
    expiresAfterSeconds: IDEMPOTENCY_KEY_TTL_SECONDS,
    throwOnNoIdempotencyKey: true,
  });
  if (context) config.registerLambdaContext(context);
  return makeIdempotent(async (_call: IdempotentCall, run: () => Promise<HttpResponse>) => run(), {
    persistenceStore,
    config,
  });
}

/** Runs `run` once per (tenant, route, Idempotency-Key); without the header it just runs. */
export async function withIdempotencyKey(
  request: HttpRequest,
  tenantId: string,
  run: () => Promise<HttpResponse>,
): Promise<HttpResponse> {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return run();
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new InvalidRequestError('The Idempotency-Key header is not valid.', [
      {
        field: 'Idempotency-Key',
        message: 'must be 1-255 visible ASCII characters',
      },
    ]);
  }
  try {
    return await idempotentRunner(request.lambdaContext)(
      {
        scope: `${tenantId} ${request.routeKey} ${request.path}`,
        key,
        // A route without a body (a retry, a retraction) is keyed on "no body"; any body is JSON.
        body: request.rawBody.trim() === '' ? null : jsonBody(request),
      },
      run,
    );
  } catch (error) {
    throw contractErrorOf(error);
  }
}

/**
 * Powertools' two answers to a reused key, as the contract's 409s. Mapped here rather than in
 * `http.ts`: importing the error classes there put the Idempotency barrel (and its JMESPath,
 * ~23 KB) in every HTTP bundle, where only the routes that take a key need it.
 */
function contractErrorOf(error: unknown): unknown {
  if (error instanceof IdempotencyValidationError) {
    return new ConflictError(
      'This Idempotency-Key was used with a different request body.',
      'idempotency_key_mismatch',
    );
  }
  if (error instanceof IdempotencyAlreadyInProgressError) {
    return new ConflictError(
      'A request with this Idempotency-Key is still being processed; retry shortly.',
      'request_in_progress',
    );
  }
  return error;
}

/**
 * The `httpHandler` option of a route that creates something: keys are scoped to the tenant
 * `tenantOf` resolves, which authenticates the caller first, so a request without valid credentials
 * is refused before any key record is written.
 */
export function idempotencyKeyed(
  tenantOf: (request: HttpRequest) => Promise<string>,
): RouteWrapper {
  return async (request, run) => withIdempotencyKey(request, await tenantOf(request), run);
}
