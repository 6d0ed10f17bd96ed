/**
 * One HTTP call to a reply provider, classified the one way every channel needs it: an answer (its
 * status and JSON body), a connection refused before anything was sent (a safe retry), or an
 * unknown ending (timeout, reset: the provider may have acted). The channels map the answer to
 * their provider's meaning; they never classify a network error themselves.
 */
import { NOT_SENT_CODES, networkErrorCode } from '../../kernel/outbound-errors.js';
import type { ReplySendResult } from '../channel.js';

export interface ProviderAnswer {
  readonly status: number;
  readonly json: Record<string, unknown> | undefined;
}

export function refusal(
  retry: boolean,
  httpStatus: number,
  code: string | undefined,
  message: string,
): ReplySendResult {
  return { kind: 'rejected', retry, httpStatus, code, message: message.slice(0, 300) };
}

export async function callProvider(
  fetcher: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<ProviderAnswer | ReplySendResult> {
  let response: Response;
  let text: string;
  try {
    response = await fetcher(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    text = await response.text();
  } catch (error) {
    const code = networkErrorCode(error);
    if (code && NOT_SENT_CODES.has(code)) return refusal(true, 0, code, code);
    return { kind: 'unknown', reason: code ?? (error instanceof Error ? error.name : 'failed') };
  }
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    json = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

export const isResult = (a: ProviderAnswer | ReplySendResult): a is ReplySendResult => 'kind' in a;
