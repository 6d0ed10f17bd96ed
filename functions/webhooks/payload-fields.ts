/** Field schemas every provider payload shares: ids within the contract's 1–256 chars, bounded text. */
import * as z from '../kernel/zod.js';

export const providerId = z.string().check(z.minLength(1), z.maxLength(256));
export const providerText = z.string().check(z.maxLength(16384));
