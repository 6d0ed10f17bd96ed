/**
 * How the e2e project runs functions: the deployed bundles, as CI runs them, unless the shell
 * says otherwise (`ONCEFLOW_RUNTIME=sources npx vitest run --project e2e` runs the sources).
 * Read by `vitest.config.ts` (the files' env) and the e2e global setup (what it builds).
 */
export const E2E_RUNTIME = process.env.ONCEFLOW_RUNTIME || 'bundles';
