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

export class UnauthorizedError extends HttpError {
  constructor(message = 'Missing or invalid credentials.') {
    super(401, 'unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends HttpError {
  constructor(message = 'These credentials may not do that.') {
    super(403, 'forbidden', message);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends HttpError {
  constructor(message = 'No such resource.') {
    super(404, 'not_found', message);
    this.name = 'NotFoundError';
  }
}

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

export class UnsupportedMediaTypeError extends HttpError {
  constructor(message = 'The request body must be application/json.') {
    super(415, 'unsupported_media_type', message);
    this.name = 'UnsupportedMediaTypeError';
  }
}

export class RateLimitedError extends HttpError {
  constructor(message = 'Too many requests; retry later.') {
    super(429, 'rate_limited', message);
    this.name = 'RateLimitedError';
  }
}
