/**
 * How a failed provider call ended, as far as the network tells: whether the request can be known
 * never to have reached the provider (a rejection: safe to retry) or might have (an unknown
 * outcome). Shared by every provider client (campaigns' WhatsApp client, the reply channels).
 */

/** Connection errors that prove the request never reached the provider. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/** The system error code of a failed `fetch` (undici nests it in `cause`). */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
