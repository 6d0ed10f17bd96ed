/**
 * API Gateway HTTP API, payload format 2.0, in both directions: the event a route's Lambda
 * receives, and how API Gateway turns the Lambda's result into an HTTP response.
 * Reference: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID } from './resources.js';

/** Bodies with these content types reach the handler as text; anything else is base64. */
const TEXT_CONTENT_TYPE =
  /^(text\/[^;]+|application\/([\w.+-]*\+)?(json|xml)|application\/javascript)(\s*;.*)?$/i;

export function isTextContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXT_CONTENT_TYPE.test(contentType.trim());
}

export interface RouteMatch {
  /** `PUT /v1/tenants/{tenantId}` */
  readonly routeKey: string;
  readonly pathParameters: Readonly<Record<string, string>>;
}

/** `12/Mar/2020:19:03:58 +0000`, API Gateway's `requestContext.time`. */
function apiGatewayTime(epochMs: number): string {
  const date = new Date(epochMs);
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** A request id shaped like API Gateway's (`JQrZtjEFIAMEJeg=`). */
export function apiGatewayRequestId(): string {
  return randomBytes(10).toString('base64');
}

function traceId(epochMs: number): string {
  return `Root=1-${Math.floor(epochMs / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

export function buildHttpApiEvent(
  req: IncomingMessage,
  body: Buffer,
  route: RouteMatch,
  options: { readonly requestId: string; readonly receivedAt?: number },
): APIGatewayProxyEventV2 {
  const receivedAt = options.receivedAt ?? Date.now();
  const rawUrl = req.url ?? '/';
  const queryStart = rawUrl.indexOf('?');
  const rawPath = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : rawUrl.slice(queryStart + 1);
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const port = req.socket.localPort ?? 80;

  // Repeated headers arrive comma-joined; cookies move to their own field.
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (name === 'cookie' || !values) continue;
    headers[name] = values.join(',');
  }
  headers['x-forwarded-for'] ??= sourceIp;
  headers['x-forwarded-port'] ??= String(port);
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-amzn-trace-id'] ??= traceId(receivedAt);
  const cookies = (req.headersDistinct.cookie ?? [])
    .flatMap((line) => line.split(';'))
    .map((cookie) => cookie.trim())
    .filter((cookie) => cookie.length > 0);

  const query = new URLSearchParams(rawQueryString);
  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(query.keys())) {
    queryStringParameters[key] = query.getAll(key).join(',');
  }

  const domainName = headers.host ?? `127.0.0.1:${port}`;
  const hasBody = body.length > 0;
  const text = isTextContentType(headers['content-type']);

  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(rawQueryString.length > 0 ? { queryStringParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: options.requestId,
      routeKey: route.routeKey,
      stage: '$default',
      time: apiGatewayTime(receivedAt),
      timeEpoch: receivedAt,
    },
    ...(Object.keys(route.pathParameters).length > 0
      ? { pathParameters: { ...route.pathParameters } }
      : {}),
    ...(hasBody ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: hasBody && !text,
  };
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly cookies: string[];
  readonly body: Buffer;
}

export class MalformedLambdaResponseError extends Error {
  override name = 'MalformedLambdaResponseError';
}

const INTERNAL_ERROR_BODY = '{"message":"Internal Server Error"}';

/** What API Gateway answers when the integration fails: no detail, never a stack. */
export function internalServerError(): HttpResponse {
  return {
    statusCode: 500,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(INTERNAL_ERROR_BODY),
  };
}

/**
 * Maps a Lambda result to the HTTP response. A result with `statusCode` is structured; anything
 * else is "200, application/json, body = the result" (a string as is, other values as JSON).
 * Throws `MalformedLambdaResponseError` where API Gateway would answer 500.
 */
export function toHttpResponse(result: unknown): HttpResponse {
  if (result !== null && typeof result === 'object' && 'statusCode' in result) {
    const structured = result as {
      statusCode?: unknown;
      headers?: unknown;
      body?: unknown;
      isBase64Encoded?: unknown;
      cookies?: unknown;
    };
    const { statusCode } = structured;
    if (
      typeof statusCode !== 'number' ||
      !Number.isInteger(statusCode) ||
      statusCode < 100 ||
      statusCode > 599
    ) {
      throw new MalformedLambdaResponseError(`invalid statusCode ${String(statusCode)}`);
    }
    const headers: Record<string, string> = {};
    if (structured.headers !== undefined && structured.headers !== null) {
      if (typeof structured.headers !== 'object') {
        throw new MalformedLambdaResponseError('headers must be an object');
      }
      for (const [name, value] of Object.entries(structured.headers)) {
        headers[name.toLowerCase()] = String(value);
      }
    }
    const { body } = structured;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      throw new MalformedLambdaResponseError('body must be a string');
    }
    const cookies = Array.isArray(structured.cookies) ? structured.cookies.map(String) : [];
    return {
      statusCode,
      headers,
      cookies,
      body: Buffer.from(body ?? '', structured.isBase64Encoded === true ? 'base64' : 'utf8'),
    };
  }
  const body =
    typeof result === 'string' ? result : result === undefined ? '' : JSON.stringify(result);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(body),
  };
}
