/** `npm start`'s output capture: handler lines reach the log file even when `--fresh` wiped its directory. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureProcessOutput } from '../../lib/local/output.js';

describe('captureProcessOutput', () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it('recreates the logs directory wiped after the capture started (--fresh)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-output-'));
    const logFile = join(dataDir, 'logs', 'onceflow.log');
    const output = captureProcessOutput(logFile);
    restore = output.restore;
    rmSync(join(dataDir, 'logs'), { recursive: true, force: true });
    process.stdout.write('{"level":"INFO","message":"after the wipe"}\n');
    output.restore();
    restore = undefined;
    expect(readFileSync(logFile, 'utf8')).toContain('after the wipe');
    rmSync(dataDir, { recursive: true, force: true });
  });
});
