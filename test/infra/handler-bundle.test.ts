/**
 * The handler bundle as the stack builds it (`handlerBuildOptions`): zod's locales stay out, the
 * bundle still loads and parses with zod's English messages, and it fits the 1 MB goal.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { handlerBuildOptions } from '../../lib/bundling/handler-bundle.js';
import { ESBUILD_TARGET, OnceflowFunction } from '../../lib/constructs/onceflow-function.js';
import { bundleAsDeployed, importEnvironment } from '../bench/coldstart.bench.js';
import { testApp } from './synth-support.js';

const dir = mkdtempSync(join(tmpdir(), 'onceflow-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bundles `entry` (a path, or module source resolved from the project root). */
async function bundle(entry: string | { source: string }, name: string) {
  const outfile = join(dir, `${name}.mjs`);
  const options = handlerBuildOptions({
    entry: typeof entry === 'string' ? entry : '<stdin>',
    outfile,
    target: ESBUILD_TARGET,
    sourcemap: false,
    metafile: true,
  });
  const result = await build(
    typeof entry === 'string'
      ? options
      : {
          ...options,
          entryPoints: undefined,
          stdin: { contents: entry.source, resolveDir: process.cwd(), loader: 'ts' },
        },
  );
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  return { outfile, inputs, bytes: statSync(outfile).size };
}

describe('handler bundle', () => {
  it('carries only English of zod locales, even through Parser’s `{ z }` import', async () => {
    // Prepare: the same import Powertools Parser makes, and a schema that fails.
    const source =
      "import { z } from 'zod';\nexport const message = () => z.object({ a: z.string() }).safeParse({ a: 1 }).error?.issues[0]?.message;\n";

    // Act
    const { inputs, outfile } = await bundle({ source }, 'probe');
    const loaded = (await import(pathToFileURL(outfile).href)) as { message: () => string };

    // Assess
    // The plugin's stand-in for the locale barrel is the `zod-en:` input; the rest are files.
    const locales = inputs.filter(
      (input) => !input.startsWith('zod-en:') && /zod\/v4\/locales\/[^/]+\.js$/.test(input),
    );
    expect(locales.map((input) => input.replace(/.*\//, ''))).toEqual(['en.js']);
    expect(loaded.message()).toMatch(/expected string, received number/i);
  });

  it('bundles the largest handler under 1 MB', async () => {
    // receive-whatsapp imports the most: Parser, the SDK clients, libphonenumber.
    const { bytes, inputs } = await bundle(
      'functions/webhooks/handlers/receive-whatsapp.ts',
      'receive-whatsapp',
    );
    expect(inputs.some((input) => input.includes('@aws-lambda-powertools/parser'))).toBe(true);
    expect(bytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('the cold-start bench measures the deployed form: the source map beside the bundle, the functions’ NODE_OPTIONS', async () => {
    // Prepare: what the stack deploys for a function.
    const stack = new Stack(testApp(), 'BenchParity');
    new OnceflowFunction(stack, 'Probe', {
      entry: 'functions/health/handlers/get-health.ts',
      description: 'probe',
    });
    const [deployed] = Object.values(
      Template.fromStack(stack).findResources('AWS::Lambda::Function'),
    ) as { Properties: { Environment: { Variables: Record<string, string> } } }[];

    // Act
    const outfile = join(dir, 'bench-health.mjs');
    await bundleAsDeployed('functions/health/handlers/get-health.ts', outfile);

    // Assess: Node loads a bundle's map at import time under these options, so both must match.
    expect(importEnvironment().NODE_OPTIONS).toBe(
      deployed?.Properties.Environment.Variables.NODE_OPTIONS,
    );
    expect(existsSync(`${outfile}.map`)).toBe(true);
    expect(readFileSync(outfile, 'utf8')).toMatch(
      /\/\/# sourceMappingURL=bench-health\.mjs\.map\s*$/,
    );
  });
});
