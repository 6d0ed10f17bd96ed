/**
 * E2e project global setup: builds (or finds in the cache) the code the runtimes of the suite will
 * load, once, before the first file starts one — the deployed bundles in `bundles` mode (what CI
 * runs), the development build otherwise — and says how long that took.
 */
import { fileURLToPath } from 'node:url';
import { ESBUILD_TARGET } from '../../lib/constructs/onceflow-function.js';
import { buildFunctions, runtimeModeFrom } from '../../lib/local/function-build.js';
import { functions } from '../../lib/manifest.js';

/** Not `runtime.ts`'s: importing it creates SDK clients in this process. */
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export default async function setup(): Promise<void> {
  // The project's `env` reaches the test files, not this process: read the mode the same way.
  const mode = runtimeModeFrom(process.env.ONCEFLOW_RUNTIME ?? E2E_RUNTIME);
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

/** How the e2e project runs functions (`vitest.config.ts` sets the same in the files' env). */
export const E2E_RUNTIME = 'bundles';
