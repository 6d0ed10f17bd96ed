import { defineConfig } from 'vitest/config';
import { E2E_RUNTIME } from './test/support/e2e-runtime.js';

/**
 * Four projects, run one at a time with `vitest run --project <name>`:
 * - unit: no network.
 * - integration: real DynamoDB Local + SQS emulator, started once per run by the global setup
 *   (tables and queues provisioned from the manifest); each test file gets their environment.
 * - infra: CDK assertions and cdk-nag, no emulators.
 * - e2e: the local runtime started as `npm start` would, over HTTP; one file at a time. Its
 *   functions run from the deployed bundles (`ONCEFLOW_RUNTIME=bundles`; the shell may say
 *   `sources`), built once by the global setup (`test/support/e2e-global-setup.ts`) and cached by
 *   content.
 */
/**
 * Tests run on the developer's Node (20.19+, `engines` in package.json; the Lambdas run Node.js 24):
 * on Node 20 the SDK's "upgrade to 22" notice is noise in test output.
 */
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
/**
 * Unit tests drive error paths on purpose; their expected error logs would bury real failures.
 * A test that reads the logs sets its own level (see test/unit/kernel/telemetry.test.ts).
 */
const unitEnv = { ...env, POWERTOOLS_LOG_LEVEL: 'SILENT' };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          env: unitEnv,
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          env,
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/integration-global-setup.ts'],
          setupFiles: ['test/support/integration-env.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'infra',
          env,
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          env: { ...env, ONCEFLOW_RUNTIME: E2E_RUNTIME },
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/e2e-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
