/**
 * The `onceflow` CLI as an operator runs it (`tsx bin/cli.ts --json …`), pointed at the integration
 * emulators: its exit code, its JSON answer and its stderr.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { PROJECT_ROOT } from '../../../lib/local/runtime.js';
import { tsxCommand } from '../../support/local-runtime.js';

const run = promisify(execFile);
const port = (url: string) => new URL(url).port;

// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON, read field by field in assertions
export type CliResult = { code: number; json: any; stderr: string };

/** Runs the CLI with extra environment (e.g. another SQS emulator's port). */
export async function cliWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const endpoints = inject('onceflowEndpoints');
  const { command, args: tsxArgs } = tsxCommand('bin/cli.ts');
  try {
    const out = await run(command, [...tsxArgs, '--json', ...args], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        DYNAMODB_PORT: port(endpoints.dynamodb),
        SQS_PORT: port(endpoints.sqs),
        ...env,
      },
    });
    return { code: 0, json: JSON.parse(out.stdout), stderr: out.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    let json: unknown;
    try {
      json = JSON.parse(e.stdout ?? '');
    } catch {
      json = undefined;
    }
    return { code: e.code ?? 1, json, stderr: e.stderr ?? '' };
  }
}

export const cli = (...args: string[]): Promise<CliResult> => cliWith({}, ...args);
