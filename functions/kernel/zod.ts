/**
 * The one zod every module under `functions/` imports: zod/mini, with English messages.
 *
 * Why mini: classic zod attaches every method to every schema at construction, so nothing of it
 * shakes out of a bundle (~78 KB in each); mini's functional API (`z.optional(x)`,
 * `.check(z.minLength(1))`) leaves out what a module does not call (~18 KB). A bundle holding
 * both kinds pays classic's floor and mini's, so no code a Lambda handler reaches may build a
 * classic schema (`test/infra/handler-bundle.test.ts` fails on any `zod/v4/classic` input).
 *
 * Why here: zod/mini loads no locale, and without one every issue's message is "Invalid input" —
 * the contract's 400 `details` name what is wrong in English (classic configures English on its
 * first schema). Configuring it in the module every schema imports makes it happen before any
 * schema can parse, in tests and in every bundle alike (`test/unit/kernel/zod-mini.test.ts`).
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
/**
 * Core's error class, which every zod error is (mini's, and classic's in tests), for `instanceof`.
 * Named here because reading it as `z.core.$ZodError` makes esbuild build the whole `core`
 * namespace object into the bundle (~70 KB: the JIT compiler, every schema and check).
 */
export { $ZodError } from 'zod/v4/core';
