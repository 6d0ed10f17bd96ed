/**
 * The HTTP edge every route handler goes through: middy with Powertools Logger and Tracer, the
 * telemetry context (`source = http:<routeKey>`), request checks (body size, content type, JSON,
 * zod schemas) and the mapping from errors to the contract's error shape. A bad request gets a 4xx
 * naming what is wrong; anything unexpected is logged and answered with a plain 500 carrying no
 * internals.
 */
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { type HttpApiEvent, httpApiEventSchema } from './aws-events.js';
import { withEdgeMiddleware } from './edge-middleware.js';
import {
  type ErrorDetail,
  HttpError,
  InvalidRequestError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from './errors.js';
import { FailpointCrashError } from './failpoints.js';
import { logger, withInvocation } from './telemetry.js';
import * as z from './zod.js';

export type { HttpApiEvent } from './aws-events.js';

/** Bodies over 1 MiB are refused (api.md). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpRequest {
  readonly method: string;
  readonly routeKey: string;
  readonly path: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body exactly as received (needed for signature checks). */
  readonly rawBody: string;
  readonly sourceIp: string;
  readonly requestId: string;
  /** The invocation's Lambda context (remaining time, request id). */
  readonly lambdaContext?: Context;
}

export interface HttpResponse {
  readonly status: number;
  readonly body?: unknown;
  /** Defaults to application/json for objects; strings are sent as text/plain. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type RouteHandler = (request: HttpRequest) => Promise<HttpResponse>;

/** Runs a route's handler (`run`) inside something that decides whether and how it runs. */
export type RouteWrapper = (
  request: HttpRequest,
  run: () => Promise<HttpResponse>,
) => Promise<HttpResponse>;

export interface HttpHandlerOptions {
  /**
   * The contract's `Idempotency-Key` for a route that creates something: `idempotencyKeyed(...)`
   * from `idempotency-key.ts`, declared here so the route cannot run without it. Routes declare
   * `idempotencyKey: 'honoured'` in the manifest, and `test/integration/whole-service/idempotency-key-routes.test.ts`
   * drives every one of them.
   */
  readonly idempotencyKey?: RouteWrapper;
}

/**
 * Converts zod issues into the contract's `details` list. Typed on core's error, which both
 * zod/mini's (what handlers throw) and classic's are.
 */
export function detailsFromZod(error: z.$ZodError): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.map(String);
    // An unknown field is named itself, not its parent object.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...at, key].join('.'), message: 'unknown field' }));
    }
    return [{ field: at.join('.') || '(body)', message: issue.message }];
  });
}

/** Parses a value with a zod schema, or throws a 400 naming every bad field. */
export function parseWith<S extends z.core.$ZodType>(
  schema: S,
  value: unknown,
  what = 'body',
): z.output<S> {
  const result = z.safeParse(schema, value);
  if (!result.success) {
    throw new InvalidRequestError(
      `The request ${what} is not valid.`,
      detailsFromZod(result.error),
    );
  }
  return result.data;
}

/** Reads the body as JSON after the size and content-type checks. */
export function jsonBody(request: HttpRequest): unknown {
  const contentType = request.headers['content-type'] ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(contentType.trim())) {
    throw new UnsupportedMediaTypeError();
  }
  if (request.rawBody.trim() === '') {
    throw new InvalidRequestError('The request body is empty; a JSON document is required.');
  }
  try {
    return JSON.parse(request.rawBody) as unknown;
  } catch {
    throw new InvalidRequestError('The request body is not valid JSON.');
  }
}

/** `jsonBody` + `parseWith`: the usual first line of a handler. */
export function parseJsonBody<S extends z.core.$ZodType>(
  request: HttpRequest,
  schema: S,
): z.output<S> {
  return parseWith(schema, jsonBody(request));
}

function toRequest(event: HttpApiEvent, lambdaContext: Context): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const raw = event.body ?? '';
  const rawBody = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(rawBody, 'utf8') > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(MAX_BODY_BYTES);
  }
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[name] = value;
  }
  const pathParameters: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
    if (value !== undefined) pathParameters[name] = value;
  }
  return {
    method: event.requestContext.http.method,
    routeKey: event.routeKey,
    path: event.rawPath,
    pathParameters,
    query,
    headers,
    rawBody,
    sourceIp: event.requestContext.http.sourceIp,
    requestId: event.requestContext.requestId,
    lambdaContext,
  };
}

function toResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  if (typeof response.body === 'string') {
    return {
      statusCode: response.status,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        ...response.headers,
      },
      body: response.body,
    };
  }
  return {
    statusCode: response.status,
    headers: { 'content-type': 'application/json', ...response.headers },
    body: response.body === undefined ? '' : JSON.stringify(response.body),
  };
}

/** Maps a thrown error to a response; crashes (failpoints) propagate as a real crash would. */
export function errorResponse(error: unknown): HttpResponse {
  if (error instanceof HttpError) return { status: error.status, body: error.toBody() };
  // Core's class: a mini schema's `parse` throws a `$ZodError`, never classic's `ZodError`.
  if (error instanceof z.$ZodError) {
    return {
      status: 400,
      body: new InvalidRequestError('The request is not valid.', detailsFromZod(error)).toBody(),
    };
  }
  logger.error('unhandled error', { error });
  return {
    status: 500,
    body: {
      error: {
        code: 'internal_error',
        message: 'Something went wrong; retry later.',
      },
    },
  };
}

/**
 * Wraps a route handler as a Lambda handler for an HTTP API (payload format 2.0), with options
 * first when it has any (`httpHandler({ idempotencyKey: ... }, async (request) => ...)`).
 * The header of each route file names its route; the telemetry source comes from the event.
 */
export function httpHandler(handle: RouteHandler): HttpLambdaHandler;
export function httpHandler(options: HttpHandlerOptions, handle: RouteHandler): HttpLambdaHandler;
export function httpHandler(
  first: RouteHandler | HttpHandlerOptions,
  second?: RouteHandler,
): HttpLambdaHandler {
  const handle = typeof first === 'function' ? first : second;
  if (!handle) throw new Error('httpHandler needs a route handler');
  return edgeHttpHandler(handle, typeof first === 'function' ? {} : first);
}

export type HttpLambdaHandler = ReturnType<typeof edgeHttpHandler>;

function edgeHttpHandler(handle: RouteHandler, { idempotencyKey }: HttpHandlerOptions) {
  const base = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> =>
    withInvocation(`http:${event.routeKey}`, context, async () => {
      // API Gateway never sends an event that fails its own schema: one that does is our fault (500).
      const parsed = httpApiEventSchema.safeParse(event);
      if (!parsed.success) {
        logger.error('the HTTP API event does not match payload format 2.0', {
          issues: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
        });
        return toResult(errorResponse(new Error('malformed HTTP API event')));
      }
      try {
        const request = toRequest(parsed.data, context);
        const run = () => handle(request);
        return toResult(await (idempotencyKey ? idempotencyKey(request, run) : run()));
      } catch (error) {
        if (error instanceof FailpointCrashError) throw error;
        return toResult(errorResponse(error));
      }
    });
  return withEdgeMiddleware(middy(base));
}

/** Reads a header case-insensitively. */
export function header(request: HttpRequest, name: string): string | undefined {
  return request.headers[name.toLowerCase()];
}

/** A required path parameter, validated so ids cannot smuggle key separators. */
export function pathParam(request: HttpRequest, name: string): string {
  const value = request.pathParameters[name];
  if (!value || !/^[A-Za-z0-9_.:-]{1,256}$/.test(value)) {
    throw new InvalidRequestError(`The path parameter ${name} is not valid.`, [
      {
        field: name,
        message: 'must be 1-256 characters of letters, digits, _ . : -',
      },
    ]);
  }
  return value;
}
