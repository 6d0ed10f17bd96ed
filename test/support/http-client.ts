/**
 * One HTTP call as a client makes it, for tests and benches that drive the runtime over HTTP: JSON
 * bodies encoded, a bearer token set when given, and the answer read once as text and as JSON.
 */

export interface CallOptions {
  readonly token?: string;
  /** Encoded as JSON. */
  readonly body?: unknown;
  /** Sent as it is (a signed webhook body, malformed JSON). */
  readonly raw?: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface CallAnswer {
  readonly status: number;
  readonly text: string;
  /** The body parsed as JSON; `undefined` when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON answers they assert on
  readonly json: any;
  readonly headers: Headers;
}

export async function callJson(
  url: string,
  method: string,
  options: CallOptions = {},
): Promise<CallAnswer> {
  const body =
    options.raw ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
  const response = await fetch(url, {
    method,
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, headers: response.headers };
}
