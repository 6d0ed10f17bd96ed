/**
 * Issue 7 item 10: a reconcile window that a provider call can outlast is refused at start —
 * `npm start` prints one line naming the variable and exits 1; the stack refuses to synthesize;
 * the send and recovery handlers refuse at init (same check, `assertSafeReconcileWindow`).
 * Short windows stay possible (20 s against the 10 s call timeout).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { reconcileWindowProblem } from '../../functions/campaigns/index.js';
import { OnceflowStack } from '../../lib/onceflow-stack.js';
import { tsxCommand } from '../support/local-runtime.js';

const run = promisify(execFile);

describe('reconcile window against the provider call timeout', () => {
  it('names both variables when the window does not exceed the timeout; 20 s vs 10 s is fine', () => {
    expect(reconcileWindowProblem(10, 10)).toMatch(
      /ONCEFLOW_RECONCILE_WINDOW_SECONDS \(10\) must exceed ONCEFLOW_PROVIDER_TIMEOUT_SECONDS \(10\)/,
    );
    expect(reconcileWindowProblem(5, 10)).toBeDefined();
    expect(reconcileWindowProblem(20, 10)).toBeUndefined();
  });

  it('npm start prints one line naming the variable and exits 1 before starting anything', async () => {
    const { command, args } = tsxCommand('bin/local.ts');
    const outcome = await run(command, args, {
      env: {
        ...process.env,
        ONCEFLOW_RECONCILE_WINDOW_SECONDS: '8',
        ONCEFLOW_PROVIDER_TIMEOUT_SECONDS: '10',
        ONCEFLOW_DATA_DIR: '/tmp/onceflow-window-check',
      },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(outcome.code).toBe(1);
    const lines = outcome.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ONCEFLOW_RECONCILE_WINDOW_SECONDS/);
  }, 60_000);

  it('the stack refuses to synthesize with such a window', () => {
    expect(
      () =>
        new OnceflowStack(new App(), 'ShortWindow', {
          reconcileWindowSeconds: 10,
          providerTimeoutSeconds: 10,
        }),
    ).toThrow(/ONCEFLOW_RECONCILE_WINDOW_SECONDS/);
  });
});
