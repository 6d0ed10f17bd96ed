/** The one page-size parser for listings: `?limit=` as an integer within bounds, else a 400. */
import { InvalidRequestError } from './errors.js';

export interface PageLimitOptions {
  /** When the client gives none. */
  readonly fallback: number;
  readonly max: number;
  /** The query parameter's name, for the 400's details. @default 'limit' */
  readonly field?: string;
}

export function parsePageLimit(raw: string | undefined, options: PageLimitOptions): number {
  const field = options.field ?? 'limit';
  if (raw === undefined || raw === '') return options.fallback;
  const n = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > options.max) {
    throw new InvalidRequestError(`The ${field} is not valid.`, [
      { field, message: `must be an integer 1-${options.max}` },
    ]);
  }
  return n;
}
