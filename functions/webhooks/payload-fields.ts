/** Field schemas every provider payload shares: ids within the contract's 1–256 chars, bounded text. */
import * as z from 'zod';

export const providerId = z.string().min(1).max(256);
export const providerText = z.string().max(16384);
