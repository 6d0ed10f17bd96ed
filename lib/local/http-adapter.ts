/**
 * The API Gateway stand-in: one node:http server serving every manifest route by invoking its
 * handler with a real HTTP API v2 event, plus the local-only `/_local/*` routes. An unknown route
 * goes to the manifest's `$default` function, as on AWS (without one: the contract's 404). Errors
 * look like API Gateway's: body over 1 MiB 413 (in the contract's error shape), and a handler that
 * throws or cannot load is 500 `{"message":"Internal Server Error"}`. Until the runtime is ready,
 * `GET /health` answers 503 `{"status":"unavailable"}` whatever the store says (api.md).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  defaultRouteFunction,
  type FunctionSpec,
  type HttpMethod,
  httpRoutes,
  functions as manifestFunctions,
} from '../manifest.js';
import {
  apiGatewayRequestId,
  buildHttpApiEvent,
  type HttpResponse,
  internalServerError,
  type RouteMatch,
  toHttpResponse,
} from './http-event.js';
import {
  MAX_BODY_BYTES,
  PayloadTooLargeError,
  readBody,
  sendError,
  sendJson,
} from './http-util.js';
import { describeError, type HandlerLoader, invokeHandler, type LocalFunction } from './lambda.js';

/** One HTTP API route bound to the function that serves it. */
export interface ApiRoute {
  readonly method: HttpMethod;
  /** HTTP API route syntax: `/v1/tenants/{tenantId}`, greedy `/files/{proxy+}`. */
  readonly path: string;
  readonly fn: LocalFunction;
}

/** Handles a request outside the manifest routes (e.g. `/_local/*`); true when it answered. */
export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface HttpAdapterOptions {
  readonly loader: HandlerLoader;
  /** @default every http route of the manifest */
  readonly routes?: readonly ApiRoute[];
  readonly extraRoutes?: ExtraRoutes;
  readonly log: (line: string) => void;
  /** @default 1 MiB */
  readonly maxBodyBytes?: number;
  /** Serves requests no route matches. @default the manifest's `$default` function when `routes` is not given */
  readonly defaultRoute?: LocalFunction;
  /** False while the runtime starts (or stops): `GET /health` is then 503. @default always ready */
  readonly isReady?: () => boolean;
}

/** The `$default` route function of the manifest (or of `functions`), if it declares one. */
export function manifestDefaultRoute(
  functions: Readonly<Record<string, FunctionSpec>> = manifestFunctions,
): LocalFunction | undefined {
  const name = defaultRouteFunction(functions);
  const spec = name ? functions[name] : undefined;
  if (!name || !spec) return undefined;
  return { name, entry: spec.entry, timeoutSeconds: spec.timeoutSeconds, memoryMb: spec.memoryMb };
}

/** The HTTP routes of the manifest (or of `functions`), each with its function. */
export function manifestApiRoutes(
  functions: Readonly<Record<string, FunctionSpec>> = manifestFunctions,
): ApiRoute[] {
  return httpRoutes(functions).map(({ method, path, functionName }) => {
    const spec = functions[functionName];
    return {
      method,
      path,
      fn: {
        name: functionName,
        entry: spec?.entry ?? '',
        timeoutSeconds: spec?.timeoutSeconds,
        memoryMb: spec?.memoryMb,
      },
    };
  });
}

interface CompiledRoute {
  readonly route: ApiRoute;
  readonly routeKey: string;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  readonly staticSegments: number;
  readonly greedy: boolean;
}

function compileRoute(route: ApiRoute): CompiledRoute {
  const paramNames: string[] = [];
  let staticSegments = 0;
  let greedy = false;
  const segments = route.path
    .split('/')
    .filter((segment) => segment.length > 0)
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_]+)(\+)?\}$/.exec(segment);
      if (!param) {
        staticSegments += 1;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      paramNames.push(param[1] ?? '');
      if (param[2]) {
        greedy = true;
        return '(.+)';
      }
      return '([^/]+)';
    });
  return {
    route,
    routeKey: `${route.method} ${route.path}`,
    pattern: new RegExp(`^/${segments.join('/')}/?$`),
    paramNames,
    staticSegments,
    greedy,
  };
}

/** HTTP API picks the most specific route: more literal segments first, greedy paths last. */
export function createRouter(routes: readonly ApiRoute[]) {
  const compiled = routes
    .map(compileRoute)
    .sort(
      (a, b) =>
        Number(a.greedy) - Number(b.greedy) ||
        b.staticSegments - a.staticSegments ||
        b.paramNames.length - a.paramNames.length,
    );
  return (method: string, rawPath: string): (RouteMatch & { fn: LocalFunction }) | undefined => {
    for (const candidate of compiled) {
      if (candidate.route.method !== method) continue;
      const match = candidate.pattern.exec(rawPath);
      if (!match) continue;
      const pathParameters: Record<string, string> = {};
      candidate.paramNames.forEach((name, i) => {
        pathParameters[name] = safeDecode(match[i + 1] ?? '');
      });
      return { routeKey: candidate.routeKey, pathParameters, fn: candidate.route.fn };
    }
    return undefined;
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function createHttpAdapter(options: HttpAdapterOptions): Server {
  const route = createRouter(options.routes ?? manifestApiRoutes());
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const fallback = options.defaultRoute ?? (options.routes ? undefined : manifestDefaultRoute());

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (options.extraRoutes && (await options.extraRoutes(req, res, url))) return;

    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/health' && options.isReady?.() === false) {
      sendJson(res, 503, { status: 'unavailable' });
      return;
    }
    const match =
      route(method, url.pathname) ??
      (fallback ? { routeKey: '$default', pathParameters: {}, fn: fallback } : undefined);
    if (!match) {
      sendError(res, 404, 'not_found', `no route for ${method} ${url.pathname}`);
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        res.setHeader('connection', 'close');
        sendError(
          res,
          413,
          'payload_too_large',
          `The request body is larger than ${maxBodyBytes} bytes.`,
        );
        return;
      }
      throw error;
    }

    const requestId = apiGatewayRequestId();
    const event = buildHttpApiEvent(req, body, match, { requestId });
    let response: HttpResponse;
    try {
      const handler = await options.loader.load(match.fn);
      response = toHttpResponse(await invokeHandler(handler, event, match.fn));
    } catch (error) {
      options.log(
        `[api] ${match.routeKey} → 500: ${match.fn.name} failed: ${describeError(error)}`,
      );
      response = internalServerError();
    }
    writeResponse(res, response, requestId);
  }

  return createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      options.log(`[api] ${req.method} ${req.url} → 500: ${describeError(error)}`);
      if (!res.headersSent) writeResponse(res, internalServerError(), apiGatewayRequestId());
      else res.destroy();
    });
  });
}

function writeResponse(res: ServerResponse, response: HttpResponse, requestId: string): void {
  const headers: Record<string, string | string[]> = {
    ...response.headers,
    'content-length': String(response.body.length),
    'apigw-requestid': requestId,
  };
  if (response.cookies.length > 0) headers['set-cookie'] = response.cookies;
  res.writeHead(response.statusCode, headers);
  res.end(response.body);
}
