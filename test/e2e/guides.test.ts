/**
 * Every guide's walkthrough does what it says: the `sh check` blocks of README.md and docs/*.md
 * (see `test/support/guides.ts`) run as a reader runs them, in a bash session against a local
 * runtime started for the guide (`npm start`'s defaults, on free ports: the commands' `:3000` and
 * `:4010` are pointed at them, and `npx onceflow` finds the runtime through its data directory),
 * and each command's output must match the sample the guide prints under it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import {
  compareOutput,
  fencedBlocks,
  type GuideStep,
  guideFiles,
  isChecked,
  stepsOf,
} from '../support/guides.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';

const run = promisify(execFile);

const guides = guideFiles(PROJECT_ROOT);
const quickstart = fencedBlocks(PROJECT_ROOT, 'README.md').filter(
  (b) => isChecked(b) && /\bquickstart\b/.test(b.info),
);
const walkthroughs = guides
  .map((file) => ({
    file,
    blocks: fencedBlocks(PROJECT_ROOT, file).filter(
      (b) => isChecked(b) && !/\bquickstart\b/.test(b.info),
    ),
  }))
  .filter((g) => g.blocks.length > 0 || g.file === 'README.md');

/** The command as the guide shows it, pointed at this test's runtime. */
function pointed(command: string, runtime: SpawnedRuntime): string {
  return command
    .replace(/(localhost|127\.0\.0\.1):3000\b/g, `127.0.0.1:${runtime.ports.api}`)
    .replace(/(localhost|127\.0\.0\.1):4010\b/g, `127.0.0.1:${runtime.ports.sim}`);
}

/** Runs the steps in one bash session; each step's stdout, stderr and exit code. */
async function runSteps(
  steps: readonly GuideStep[],
  runtime: SpawnedRuntime,
): Promise<Array<{ out: string; err: string; rc: number }>> {
  const dir = mkdtempSync(join(tmpdir(), 'onceflow-guide-'));
  const script = steps
    .map(
      (step, i) =>
        `{\n${pointed(step.command, runtime)}\n} > "${dir}/${i}.out" 2> "${dir}/${i}.err"; echo $? > "${dir}/${i}.rc"`,
    )
    .join('\n');
  writeFileSync(join(dir, 'guide.sh'), `cd ${JSON.stringify(PROJECT_ROOT)}\n${script}\n`);
  await run('bash', [join(dir, 'guide.sh')], {
    cwd: PROJECT_ROOT,
    timeout: 280_000,
    env: {
      ...process.env,
      ONCEFLOW_DATA_DIR: runtime.dataDir,
      DYNAMODB_PORT: '',
      SQS_PORT: '',
      PORT: '',
      SIM_PORT: '',
    },
  });
  return steps.map((_, i) => {
    const read = (ext: string) => {
      try {
        return readFileSync(join(dir, `${i}.${ext}`), 'utf8');
      } catch {
        return ext === 'rc' ? 'not run' : '';
      }
    };
    return { out: read('out'), err: read('err'), rc: Number(read('rc').trim()) };
  });
}

let runtime: SpawnedRuntime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

describe('the guides, run as a reader runs them', () => {
  it('README has a quickstart walkthrough the guides start from', () => {
    expect(quickstart.length).toBeGreaterThan(0);
  });

  for (const guide of walkthroughs) {
    it(`${guide.file}: every command runs and prints what the guide shows`, {
      timeout: 300_000,
    }, async () => {
      runtime = await spawnLocalRuntime({ args: ['--schedule-speed', '60'] });
      const steps = [...quickstart, ...guide.blocks].flatMap(stepsOf);
      const results = await runSteps(steps, runtime);
      const failures = steps.flatMap((step, i) => {
        const result = results[i] ?? { out: '', err: '', rc: Number.NaN };
        const where = `${step.file}:${step.line} ${step.command.trim().split('\n')[0]}`;
        if (result.rc !== 0) {
          return [`${where}\n  exit ${result.rc}: ${result.err.trim().slice(0, 500)}`];
        }
        const wrong = compareOutput(step.expected, result.out);
        return wrong ? [`${where}\n  ${wrong}`] : [];
      });
      expect(failures).toEqual([]);
    });
  }
});
