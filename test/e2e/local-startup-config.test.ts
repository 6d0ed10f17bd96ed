/**
 * A setting the kernel refuses stops `npm start` before anything starts: one line naming the
 * variable on stderr, exit code 1, never `ready`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm start with a refused setting', () => {
  it('prints one line naming the variable and exits 1', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-config-'));
    try {
      const run = spawnSync('npx', ['tsx', 'bin/local.ts', '--logs-to-console'], {
        encoding: 'utf8',
        timeout: 90_000,
        env: {
          ...process.env,
          ONCEFLOW_LEASE_SECONDS: 'abc',
          ONCEFLOW_DATA_DIR: dataDir,
          PORT: '0',
          SIM_PORT: '0',
          DYNAMODB_PORT: '0',
          SQS_PORT: '0',
        },
      });
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ONCEFLOW_LEASE_SECONDS/);
      expect(run.stdout).not.toMatch(/ready/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a provider API version past its sunset: one line naming the setting and the date, exit 1', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-config-'));
    try {
      const run = spawnSync('npx', ['tsx', 'bin/local.ts', '--logs-to-console'], {
        encoding: 'utf8',
        timeout: 90_000,
        env: {
          ...process.env,
          GOOGLE_ADS_API_VERSION: 'v22',
          ONCEFLOW_DATA_DIR: dataDir,
          PORT: '0',
          SIM_PORT: '0',
          DYNAMODB_PORT: '0',
          SQS_PORT: '0',
        },
      });
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/GOOGLE_ADS_API_VERSION=v22 was sunset on 2026-10-07/);
      expect(run.stdout).not.toMatch(/ready/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
