/**
 * Errors that map to the contract's error shape:
 * `{"error": {"code": "<snake_case>", "message": "<one sentence>", "details"?: [...]}}`.
 * Domain code throws these; `functions/kernel/http.ts` turns them into responses.
 */

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `recipients.3.phone`. */
  readonly field: string;
  readonly message: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: readonly ErrorDetail[],
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toBody(): {
    error: { code: string; message: string; details?: readonly ErrorDetail[] };
  } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export class InvalidRequestError extends HttpError {
  constructor(message: string, details: readonly ErrorDetail[] = []) {
    super(400, 'invalid_request', message, details);
    this.name = 'InvalidRequestError';
  }
}

/** Error kinds with a fixed status and code; the message is the default unless given. */
const KINDS = {
  unauthorized: {
    status: 401,
    name: 'UnauthorizedError',
    message: 'Missing or invalid credentials.',
  },
  forbidden: { status: 403, name: 'ForbiddenError', message: 'These credentials may not do that.' },
  not_found: { status: 404, name: 'NotFoundError', message: 'No such resource.' },
  unsupported_media_type: {
    status: 415,
    name: 'UnsupportedMediaTypeError',
    message: 'The request body must be application/json.',
  },
  rate_limited: {
    status: 429,
    name: 'RateLimitedError',
    message: 'Too many requests; retry later.',
  },
} as const;

function errorKind(code: keyof typeof KINDS) {
  const kind = KINDS[code];
  return class extends HttpError {
    constructor(message: string = kind.message) {
      super(kind.status, code, message);
      this.name = kind.name;
    }
  };
}

export const UnauthorizedError = errorKind('unauthorized');
export const ForbiddenError = errorKind('forbidden');
export const NotFoundError = errorKind('not_found');
export const UnsupportedMediaTypeError = errorKind('unsupported_media_type');
export const RateLimitedError = errorKind('rate_limited');
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>;
export type ForbiddenError = InstanceType<typeof ForbiddenError>;
export type NotFoundError = InstanceType<typeof NotFoundError>;
export type UnsupportedMediaTypeError = InstanceType<typeof UnsupportedMediaTypeError>;
export type RateLimitedError = InstanceType<typeof RateLimitedError>;

export class ConflictError extends HttpError {
  constructor(message: string, code = 'conflict', details?: readonly ErrorDetail[]) {
    super(409, code, message, details);
    this.name = 'ConflictError';
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `The request body is larger than ${limitBytes} bytes.`);
    this.name = 'PayloadTooLargeError';
  }
}
