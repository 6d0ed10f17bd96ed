/**
 * The one outbound POST of a delivery: to the address the SSRF guard checked (the socket's DNS
 * lookup answers that address and nothing else, so a rebinding DNS cannot move it; TLS still
 * checks the certificate against the URL's host name), with a timeout, without following
 * redirects (Node's http client never does: a 3xx is a failed attempt), reading at most
 * `MAX_RESPONSE_BYTES` of the answer.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedTarget } from '../kernel/ssrf.js';

/** What of an answer is kept (a receiver's error page, for `lastError`). */
export const MAX_RESPONSE_BYTES = 4096;

export interface WebhookPost {
  readonly target: CheckedTarget;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface WebhookAnswer {
  readonly status: number;
  /** At most `MAX_RESPONSE_BYTES` of the body, as text. */
  readonly body: string;
}

export interface WebhookTransport {
  /** The answer, or throws (connection refused, reset, timed out: `lastError`). */
  post(request: WebhookPost): Promise<WebhookAnswer>;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

export const httpTransport: WebhookTransport = {
  post({ target, headers, body, timeoutMs }) {
    const { url, address } = target;
    const pinned: LookupFunction = (_host, options, callback) => {
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: address.address, family: address.family },
        ]);
      } else {
        callback(null, address.address, address.family);
      }
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<WebhookAnswer>((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          lookup: pinned,
          timeout: timeoutMs,
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const finish = () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8'),
            });
          res.on('data', (chunk: Buffer) => {
            if (size >= MAX_RESPONSE_BYTES) return;
            chunks.push(chunk);
            size += chunk.length;
            // Enough read: the rest is never buffered (a receiver answering gigabytes costs nothing).
            if (size >= MAX_RESPONSE_BYTES) {
              res.destroy();
              finish();
            }
          });
          res.on('end', finish);
          res.on('error', (error) => (size >= MAX_RESPONSE_BYTES ? finish() : reject(error)));
        },
      );
      req.on('timeout', () => req.destroy(new TransportError(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) =>
        reject(error instanceof TransportError ? error : new TransportError(error.message)),
      );
      req.end(body);
    });
  },
};
