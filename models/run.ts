/**
 * `npm run model`: builds and runs every model check (models/checks.ts) with spin, prints the
 * states explored and the answer of each, and exits non-zero when any answer is not the expected
 * one. `--quick` runs only the checks `npm test` runs; `--keep-trails` keeps the counterexample
 * directories so `spin -t -p <model>.pml` can replay them; `--only <text>` runs the checks whose
 * name contains the text.
 */
import { execFileSync } from 'node:child_process';
import { CHECKS, runCheck } from './checks.js';

function spinVersion(): string | null {
  try {
    return execFileSync('spin', ['-V'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const argv = process.argv.slice(2);
const args = new Set(argv);
/** `--only <text>`: the checks whose name contains the text. */
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
const version = spinVersion();
if (!version) {
  console.error('spin not found: apt-get install -y spin (.ci/run installs it)');
  process.exit(2);
}
console.log(version);
const checks = CHECKS.filter(
  (c) => (!args.has('--quick') || c.inTestSuite) && (!only || c.name.includes(only)),
);
let failed = 0;
for (const check of checks) {
  const r = runCheck(check, { keepTrail: args.has('--keep-trails') });
  if (!r.ok) failed++;
  const answer =
    r.errors === 0 ? 'no violation' : `counterexample: ${r.violation ?? `${r.errors} error(s)`}`;
  console.log(
    `${r.ok ? 'ok  ' : 'FAIL'} ${check.name.padEnd(46)} ${String(r.statesStored).padStart(9)} states  ${r.seconds.toFixed(1).padStart(6)} s  ${answer}${r.trailDir ? `  (trail in ${r.trailDir})` : ''}`,
  );
}
console.log(`${checks.length - failed} of ${checks.length} checks answered as expected`);
process.exit(failed === 0 ? 0 : 1);
