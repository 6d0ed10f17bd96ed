/**
 * Small node:http helpers shared by the API adapter and the provider simulators: bounded body
 * reading, JSON answers in the contract's error shape, and listen/close that resolve when done.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** API Gateway's own cap is 10 MB; the contract caps bodies at 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

/**
 * Reads the whole body, refusing it as soon as it passes `limitBytes` (checked against
 * `content-length` first, then while streaming). After a refusal the rest of the request is drained
 * so the client can read the answer instead of seeing a reset connection.
 */
export async function readBody(req: IncomingMessage, limitBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    drain(req);
    throw new PayloadTooLargeError(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) {
      drain(req);
      throw new PayloadTooLargeError(limitBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

// Swallows what is left of a refused body, up to a hard cap, then gives up on the socket.
function drain(req: IncomingMessage, capBytes = 16 * MAX_BODY_BYTES): void {
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > capBytes) req.socket.destroy();
  });
  req.resume();
}

/** Reads and parses a JSON body; throws `SyntaxError` on invalid JSON, empty body → `undefined`. */
export async function readJson(
  req: IncomingMessage,
  limitBytes = MAX_BODY_BYTES,
): Promise<unknown> {
  const body = await readBody(req, limitBytes);
  if (body.length === 0) return undefined;
  return JSON.parse(body.toString('utf8'));
}

export function sendJson(
  res: ServerResponse,
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Answers in the contract's error shape: `{"error": {"code", "message", "details"?}}`. */
export function sendError(
  res: ServerResponse,
  statusCode: number,
  code: string,
  message: string,
  details?: unknown[],
): void {
  sendJson(res, statusCode, { error: { code, message, ...(details ? { details } : {}) } });
}

/** Listens and resolves with the bound port (so port 0 picks a free one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, drops idle and active keep-alive connections, resolves once closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Host names a loopback request carries (`[::1]` as the Host header writes an IPv6 address). */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLoopbackHost(host: string | undefined, localPort: number | undefined): boolean {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec((host ?? '').toLowerCase());
  if (!match || !LOOPBACK_HOSTS.has(match[1] ?? '')) return false;
  // A port, when given, is this server's; none means 80 (what a browser omits).
  return Number(match[2] ?? 80) === localPort;
}

const isJson = (contentType: string | undefined) =>
  (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';

/**
 * Refuses a write to a local-only control route (`/_local/*`, `/_sim/*`) that a web page could
 * have sent: any page a developer visits can POST to `http://127.0.0.1:3000` without asking, as
 * long as the request is "simple" (text/plain, form or no body: no CORS preflight), and a page on a
 * DNS name rebound to 127.0.0.1 is same-origin for the browser and may send anything.
 * - a write must carry `content-type: application/json` (415): a browser sends that cross-site only
 *   after a preflight, which these routes never grant; a DELETE (always preflighted) may carry no
 *   body and then no content type;
 * - the `Host` header must name the loopback interface on this server's port (403): a rebound name
 *   carries the attacker's host name.
 * Reads stay open (the dashboard page and its data load from `http://127.0.0.1:<port>`).
 * True when it answered the request.
 */
export function refuseCrossSiteWrite(req: IncomingMessage, res: ServerResponse): boolean {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return false;
  if (!isLoopbackHost(req.headers.host, req.socket.localPort)) {
    sendError(
      res,
      403,
      'forbidden',
      'local control routes answer only a loopback Host (127.0.0.1, localhost or [::1] with this port)',
    );
    return true;
  }
  const contentType = req.headers['content-type'];
  if (!isJson(contentType) && !(method === 'DELETE' && contentType === undefined)) {
    sendError(
      res,
      415,
      'unsupported_media_type',
      'local control routes take content-type: application/json',
    );
    return true;
  }
  return false;
}
