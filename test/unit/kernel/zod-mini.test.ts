/**
 * The handlers' schemas are zod/mini (`functions/kernel/zod.ts`): their 400s must say exactly what
 * classic zod's said, the edge must still map a thrown mini error to a 400, and the English
 * messages must not depend on something else having loaded classic zod first.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CountryCode } from 'libphonenumber-js';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as classic from 'zod';
import { detailsFromZod, errorResponse } from '../../../functions/kernel/http.js';
import * as z from '../../../functions/kernel/zod.js';
import type { TenantConfig, tenantConfigSchema } from '../../../functions/tenants/tenant-config.js';
import { REQUEST_CASES } from '../../fixtures/zod/request-cases.js';

type Outcome = { data: unknown } | { details: unknown };

function outcome(schema: z.core.$ZodType, input: unknown): Outcome {
  const result = z.safeParse(schema, input);
  return result.success ? { data: result.data } : { details: detailsFromZod(result.error) };
}

describe('zod/mini in the handlers', () => {
  it('gives every recorded request the 400 details (or the value) classic zod gave, byte for byte', async () => {
    // Prepare: what main's classic schemas gave for each case (`request-cases.ts` says how).
    const recorded = JSON.parse(
      readFileSync('test/fixtures/zod/request-cases.classic.json', 'utf8'),
    ) as Record<string, Outcome>;
    expect(Object.keys(recorded)).toEqual(REQUEST_CASES.map((c) => c.name));

    // Act
    const now: Record<string, Outcome> = {};
    for (const c of REQUEST_CASES) {
      const file = join(process.cwd(), 'functions', `${c.module}.ts`);
      const module = (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
      const schema = c.schema
        .split('.')
        .reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], module);
      now[c.name] = outcome(schema as z.core.$ZodType, c.input);
    }

    // Assess: the JSON text, as the response body carries it.
    for (const c of REQUEST_CASES) {
      expect(JSON.stringify(now[c.name]), c.name).toBe(JSON.stringify(recorded[c.name]));
    }
  });

  it('says what classic says for each kind of issue: missing, wrong type, too long, regex, enum, refine, union, unknown field', () => {
    // Prepare: one schema written both ways (classic's methods, mini's functions).
    const classicSchema = classic
      .object({
        id: classic.string().trim().min(1).max(8),
        code: classic.string().regex(/^[A-Z]{3}$/, 'must be three capitals'),
        kind: classic.enum(['a', 'b']),
        count: classic.coerce.number().int().min(1).max(10).default(5),
        tags: classic
          .array(classic.string().max(3))
          .max(2)
          .refine((tags) => new Set(tags).size === tags.length, 'must not repeat a tag')
          .optional(),
        to: classic.union([
          classic.object({ phone: classic.string() }).strict(),
          classic.object({ email: classic.email() }).strict(),
        ]),
        at: classic.iso.datetime({ offset: true }).nullable().optional(),
      })
      .strict()
      .superRefine((body, ctx) => {
        if (body.kind === 'b' && body.count > 3) {
          ctx.addIssue({ code: 'custom', path: ['count'], message: 'at most 3 of kind b' });
        }
      });
    const miniSchema = z
      .strictObject({
        id: z.string().check(z.trim(), z.minLength(1), z.maxLength(8)),
        code: z.string().check(z.regex(/^[A-Z]{3}$/, 'must be three capitals')),
        kind: z.enum(['a', 'b']),
        count: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(10)), 5),
        tags: z.optional(
          z.array(z.string().check(z.maxLength(3))).check(
            z.maxLength(2),
            z.refine((tags) => new Set(tags).size === tags.length, 'must not repeat a tag'),
          ),
        ),
        to: z.union([z.strictObject({ phone: z.string() }), z.strictObject({ email: z.email() })]),
        at: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
      })
      .check(
        z.superRefine((body, ctx) => {
          if (body.kind === 'b' && body.count > 3) {
            ctx.addIssue({ code: 'custom', path: ['count'], message: 'at most 3 of kind b' });
          }
        }),
      );
    const inputs: unknown[] = [
      {},
      { id: 5, code: 'abc', kind: 'c', count: 'x', to: 'x' },
      { id: '  ', code: 'ABCD', kind: 'a', count: '2.5', to: { fax: '1' }, extra: true },
      { id: 'x'.repeat(9), code: 'ABC', kind: 'b', count: '0', to: { email: 'no' }, at: 'today' },
      { id: 'x', code: 'ABC', kind: 'b', count: 4, to: { phone: '1' }, tags: ['a', 'a', 'long'] },
      { id: ' x ', code: 'ABC', kind: 'a', to: { phone: '1' }, at: null },
    ];

    // Act
    const pairs = inputs.map((input) => [
      outcome(miniSchema, input),
      outcome(classicSchema, input),
    ]);

    // Assess
    for (const [mini, classicOutcome] of pairs) {
      expect(JSON.stringify(mini)).toBe(JSON.stringify(classicOutcome));
    }
    // And the messages are the English ones, not the bare "Invalid input" of a locale-less zod.
    expect(JSON.stringify(pairs[1]?.[0])).toContain('expected string, received number');
  });

  it('answers a mini schema’s thrown error with the contract’s 400, as it did classic’s', () => {
    // Prepare: `parse` (not safeParse) throws core's $ZodError, which is not classic's ZodError.
    let thrown: unknown;
    try {
      z.strictObject({ name: z.string() }).parse({ name: 1 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).not.toBeInstanceOf(classic.ZodError);

    // Act
    const response = errorResponse(thrown);

    // Assess
    expect(response).toEqual({
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: 'The request is not valid.',
          details: [{ field: 'name', message: 'Invalid input: expected string, received number' }],
        },
      },
    });
  });

  it('speaks English in a process where only the handlers’ modules loaded zod (no classic schema to set the locale first)', () => {
    // Prepare: a fresh Node process, as a Lambda's: here the test's own classic imports would
    // configure English for every schema and hide a missing `z.config(en())`.
    const probe = [
      "const { createCampaignSchema } = await import('./functions/campaigns/schemas.ts');",
      'const issues = createCampaignSchema.safeParse({ name: 5 }).error.issues;',
      'console.log(JSON.stringify(issues.map((issue) => issue.message)));',
    ].join('\n');

    // Act
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', probe],
      {
        encoding: 'utf8',
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );

    // Assess
    const messages = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as string[];
    expect(messages[0]).toBe('Invalid input: expected string, received number');
    expect(messages).not.toContain('Invalid input');
  });

  it('infers the types classic inferred (checked by `npm run typecheck`): a tenant’s defaultCountry is a CountryCode, its id lists take strings', () => {
    // mini's `.check(z.refine(guard))` narrows nothing (classic's `.refine(isSupportedCountry)` did),
    // and a bare `z.ZodMiniString` parameter is `ZodMiniString<unknown>`: its lists took unknown[].
    expectTypeOf<TenantConfig['defaultCountry']>().toEqualTypeOf<CountryCode>();
    type TenantInput = z.input<typeof tenantConfigSchema>;
    expectTypeOf<TenantInput['whatsapp']>().toEqualTypeOf<
      { phoneNumberIds: string[] } | undefined
    >();
    expectTypeOf<NonNullable<TenantInput['ghl']>['locationIds']>().toEqualTypeOf<string[]>();
    expectTypeOf<NonNullable<TenantInput['whatsappWeb']>['instances']>().toEqualTypeOf<string[]>();
    expectTypeOf<NonNullable<TenantInput['unipile']>['accountIds']>().toEqualTypeOf<string[]>();
  });
});
