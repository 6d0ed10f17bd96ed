/**
 * E2e project global setup: builds (or finds in the cache) the code the runtimes of the suite will
 * load, once, before the first file starts one — the deployed bundles in `bundles` mode (what CI
 * runs), the development build otherwise — and says how long that took.
 */
import { fileURLToPath } from 'node:url';
import { ESBUILD_TARGET } from '../../lib/constructs/onceflow-function.js';
import { buildFunctions, runtimeModeFrom } from '../../lib/local/function-build.js';
import { functions } from '../../lib/manifest.js';
import { E2E_RUNTIME } from './e2e-runtime.js';

/** Not `runtime.ts`'s: importing it creates SDK clients in this process. */
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export default async function setup(): Promise<void> {
  const mode = runtimeModeFrom(E2E_RUNTIME);
  const built = await buildFunctions({
    mode,
    projectRoot: PROJECT_ROOT,
    target: ESBUILD_TARGET,
    entries: Object.fromEntries(
      Object.entries(functions).map(([name, spec]) => [name, spec.entry]),
    ),
  });
  process.stdout.write(
    `e2e: functions run as ${mode}; ${
      built.cached
        ? 'their code came from the cache'
        : `built in ${(built.buildMs / 1000).toFixed(1)} s`
    }\n`,
  );
}
