/**
 * The deterministic crash matrix: for every failpoint the code declares, arm it once (probability
 * 1, one hit), drive its flow to completion, and assert the pipeline's invariants. The failpoints
 * come from the registry filled when every manifest function is imported; the flows from
 * `test/crash-matrix/*.flow.ts`. A failpoint that no flow covers fails here, so a new crash point
 * cannot be added without a test that crashes it.
 */
/// <reference types="vite/client" />
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearFailpoints, listFailpoints } from '../../../functions/kernel/failpoints.js';
import { functions } from '../../../lib/manifest.js';
import type { CrashFlow } from '../../crash-matrix/flow.js';
import {
  type ProcessStateSnapshot,
  restoreProcessState,
  snapshotProcessState,
} from '../../support/process-state.js';

for (const spec of Object.values(functions)) {
  await import(pathToFileURL(resolve(spec.entry)).href);
}
const flowModules = import.meta.glob<{ default: CrashFlow[] }>('../../crash-matrix/*.flow.ts', {
  eager: true,
});
const flows = Object.values(flowModules).flatMap((module) => module.default);
const declared = listFailpoints().map((point) => point.name);

/** Set once per worker by `googleSim()` (oci-support), whose simulator lives as long as the worker. */
const WORKER_LIFETIME_ENV = ['GOOGLE_ADS_API_BASE_URL', 'GOOGLE_ADS_OAUTH_TOKEN_URL'];

describe('crash matrix', () => {
  // Every flow runs in this one worker, so a flow that leaves the clock seam moved or an env var
  // changed skews every flow after it (a ledger stay opened days "later" than its evidence). Each
  // case is checked and put back here, and the case that leaked fails, not the next one.
  let before: ProcessStateSnapshot;
  beforeEach(() => {
    before = snapshotProcessState();
  });
  afterEach(() => {
    clearFailpoints();
    const leaked = restoreProcessState(before, WORKER_LIFETIME_ENV);
    expect(leaked, 'process-wide state this case left behind').toEqual([]);
  });

  it('covers every declared failpoint with a flow, and names no undeclared one', () => {
    const covered = new Set(flows.flatMap((flow) => flow.failpoints));
    expect(declared.filter((name) => !covered.has(name))).toEqual([]);
    expect([...covered].filter((name) => !declared.includes(name))).toEqual([]);
  });

  const cases = flows.flatMap((flow) => flow.failpoints.map((point) => ({ flow, point })));
  it.for(cases)(
    '$flow.name: crash once at $point, drive to the end, invariants hold',
    { timeout: 120_000 },
    async ({ flow, point }: { flow: CrashFlow; point: string }) => {
      await flow.run(point);
    },
  );
});
