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
