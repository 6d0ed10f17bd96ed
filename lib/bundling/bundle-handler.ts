/**
 * `tsx lib/bundling/bundle-handler.ts <entry> <outdir> <target>`: bundles one handler into
 * `<outdir>/index.mjs` (+ source map) with `handlerBuildOptions`. `OnceflowFunction` runs it as
 * its local bundling step: CDK's `tryBundle` is synchronous and esbuild plugins need the async
 * API, so the build runs in a child process.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { HANDLER_BUNDLE_FILE, handlerBuildOptions } from './handler-bundle.js';

const [entry, outdir, target] = process.argv.slice(2);
if (!entry || !outdir || !target) {
  console.error('usage: bundle-handler.ts <entry> <outdir> <target>');
  process.exit(2);
}
try {
  await build(handlerBuildOptions({ entry, outfile: join(outdir, HANDLER_BUNDLE_FILE), target }));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
