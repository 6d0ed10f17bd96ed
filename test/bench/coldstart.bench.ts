/**
 * `npm run bench -- coldstart [--runs N] [--json]`: what a cold start costs each function.
 *
 * Every manifest function is bundled with the stack's own esbuild options
 * (`handlerBuildOptions` in `lib/bundling/handler-bundle.ts`, which `OnceflowFunction` builds with:
 * ESM, minified, tree-shaken, the createRequire banner, nothing external, `mainFields: module, main`,
 * the runtime's target, the source map), with a metafile, and imported as deployed: with the
 * functions' `NODE_OPTIONS` (`HANDLER_NODE_OPTIONS`: none by default; with `--enable-source-maps`
 * Node would read and parse the map when it loads the bundle). The map is left out of the measured
 * size (a separate file). Per function: the bundle's size, the dependency that contributes the most bytes,
 * and the time to import the bundle in a fresh Node process (the median of `--runs`, default 7) —
 * the init phase Lambda bills before the first invocation, minus the runtime's own start.
 *
 * Baseline, measured in the same run the same way: "Powertools around my handler" — a handler that
 * imports Powertools Logger, Metrics, Tracer and Idempotency with the DynamoDB document client, and
 * does nothing else. Goals (issue 25): every bundle ≤ 600 KB, median import ≤ 100 ms on this machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { handlerBuildOptions } from '../../lib/bundling/handler-bundle.js';
import { ESBUILD_TARGET, HANDLER_NODE_OPTIONS } from '../../lib/constructs/onceflow-function.js';
import { functions } from '../../lib/manifest.js';

// Issue 25's goals (issue 12's were 1 MB and 150 ms).
const BUNDLE_LIMIT_BYTES = 600 * 1024;
const IMPORT_LIMIT_MS = 100;

const BASELINE_SOURCE = `
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
const logger = new Logger();
const metrics = new Metrics({ namespace: 'baseline' });
const tracer = new Tracer();
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const persistenceStore = new DynamoDBPersistenceLayer({ tableName: 'idempotency' });
export const handler = makeIdempotent(async (event) => { logger.info('x'); void metrics; void tracer; void ddb; return event; }, { persistenceStore });
`;

interface Row {
  name: string;
  bundleBytes: number;
  largestDependency: string;
  largestDependencyBytes: number;
  importMsMedian: number;
  /** CPU time (user + system) of the same imports: less moved by other processes than wall time. */
  importCpuMsMedian: number;
}

function parseArgs(args: readonly string[]) {
  let runs = 7;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    if (flag === '--runs') runs = Number(inline ?? args[++i]);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be ≥ 1');
  return { runs, json: args.includes('--json') };
}

/** The package a bundled input path belongs to (`node_modules/@scope/name/...` → `@scope/name`). */
function packageOf(inputPath: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(inputPath);
  if (match?.[1]) return match[1];
  // The bundler's own stand-in for zod's locale barrel (`zod-en:<path>`) is zod's.
  return inputPath.startsWith('zod-en:') ? 'zod' : '(onceflow code)';
}

function largestDependency(metafile: Metafile): [string, number] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  const [name, bytes] = [...byPackage.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['-', 0];
  return [name, bytes];
}

/** Bundles `entry` as the stack deploys it: the bundle and its source map beside it. */
export async function bundleAsDeployed(entry: string, outfile: string): Promise<Metafile> {
  const result = await build(
    handlerBuildOptions({
      entry,
      outfile,
      target: ESBUILD_TARGET,
      sourcemap: true,
      metafile: true,
    }),
  );
  if (!result.metafile) throw new Error(`esbuild returned no metafile for ${entry}`);
  return result.metafile;
}

/**
 * Placeholder settings so module-scope code that reads its configuration can load, and the
 * functions' own `NODE_OPTIONS`, which change what loading a bundle costs.
 */
export function importEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    POWERTOOLS_SERVICE_NAME: 'onceflow',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // Exactly the functions' options: none inherited from the shell or from tsx.
  if (HANDLER_NODE_OPTIONS) env.NODE_OPTIONS = HANDLER_NODE_OPTIONS;
  else delete env.NODE_OPTIONS;
  for (const name of ['TENANTS', 'INBOUND', 'CAMPAIGNS', 'IDEMPOTENCY', 'CONVERSIONS', 'LEDGER']) {
    env[`ONCEFLOW_TABLE_${name}`] = `bench-${name.toLowerCase()}`;
  }
  return env;
}

/**
 * Time to import the bundle in a fresh process, measured inside it (excludes Node's own start):
 * wall time, and the process's CPU time over the same span.
 */
function importMs(file: string, env: NodeJS.ProcessEnv): { wall: number; cpu: number } {
  const script = `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(file)}); const w = performance.now() - t; const u = process.cpuUsage(c); process.stdout.write(JSON.stringify({ wall: w, cpu: (u.user + u.system) / 1000 }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`importing ${file} failed: ${out.stderr.slice(0, 500)}`);
  return JSON.parse(out.stdout) as { wall: number; cpu: number };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function measure(name: string, entry: string, dir: string, runs: number): Promise<Row> {
  const outfile = join(dir, `${name}.mjs`);
  const metafile = await bundleAsDeployed(entry, outfile);
  const [dependency, dependencyBytes] = largestDependency(metafile);
  const env = importEnvironment();
  const times = Array.from({ length: runs }, () => importMs(outfile, env));
  const tenth = (ms: number) => Math.round(ms * 10) / 10;
  return {
    name,
    bundleBytes: statSync(outfile).size,
    largestDependency: dependency,
    largestDependencyBytes: dependencyBytes,
    importMsMedian: tenth(median(times.map((t) => t.wall))),
    importCpuMsMedian: tenth(median(times.map((t) => t.cpu))),
  };
}

export default async function coldstart(args: string[]): Promise<void> {
  const { runs, json } = parseArgs(args);
  const dir = mkdtempSync(join(tmpdir(), 'onceflow-coldstart-'));
  try {
    // esbuild resolves packages from the entry's directory: the baseline's entry lives in the
    // project (under the git-ignored .bench-out/) so it finds the same node_modules.
    const baselineInProject = resolve('.bench-out', 'coldstart-baseline.mjs');
    mkdirSync(dirname(baselineInProject), { recursive: true });
    writeFileSync(baselineInProject, BASELINE_SOURCE);
    const baseline = await measure(
      'baseline (Powertools around a handler)',
      baselineInProject,
      dir,
      runs,
    );
    const rows: Row[] = [];
    for (const [name, spec] of Object.entries(functions)) {
      rows.push(await measure(name, resolve(spec.entry), dir, runs));
    }
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
    console.log(`cold start: bundle size and fresh-process import time (median of ${runs})`);
    console.log(
      'function'.padEnd(28),
      'bundle'.padStart(9),
      'import ms'.padStart(10),
      'cpu ms'.padStart(8),
      '  largest dependency',
    );
    for (const row of [baseline, ...rows]) {
      console.log(
        row.name.slice(0, 28).padEnd(28),
        kb(row.bundleBytes).padStart(9),
        row.importMsMedian.toFixed(1).padStart(10),
        row.importCpuMsMedian.toFixed(1).padStart(8),
        `  ${row.largestDependency} (${kb(row.largestDependencyBytes)})`,
      );
    }
    const largest = Math.max(...rows.map((r) => r.bundleBytes));
    const medianImport = median(rows.map((r) => r.importMsMedian));
    const medianImportCpu = median(rows.map((r) => r.importCpuMsMedian));
    // Wall times on a shared machine move with its load: print it beside them.
    const loadAverage = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    const overBundle = rows.filter((r) => r.bundleBytes > BUNDLE_LIMIT_BYTES).map((r) => r.name);
    const overImport = rows.filter((r) => r.importMsMedian > IMPORT_LIMIT_MS).map((r) => r.name);
    console.log(
      `largest bundle ${kb(largest)} (goal ≤ ${kb(BUNDLE_LIMIT_BYTES)}), median import ${medianImport.toFixed(1)} ms (goal ≤ ${IMPORT_LIMIT_MS} ms); baseline ${kb(baseline.bundleBytes)}, ${baseline.importMsMedian.toFixed(1)} ms`,
    );
    console.log(
      `median import CPU time ${medianImportCpu.toFixed(1)} ms (baseline ${baseline.importCpuMsMedian.toFixed(1)} ms); 1-minute load average at the end ${loadAverage} on ${cpus().length} cores`,
    );
    if (overBundle.length) console.log(`over the bundle goal: ${overBundle.join(', ')}`);
    if (overImport.length) console.log(`over the import goal: ${overImport.join(', ')}`);
    if (json) {
      console.log(
        JSON.stringify({
          runs,
          functions: rows,
          baseline,
          largestBundleBytes: largest,
          medianImportMs: medianImport,
          medianImportCpuMs: medianImportCpu,
          loadAverage,
          ratios: {
            largestBundleToBaseline: largest / baseline.bundleBytes,
            medianImportToBaseline: medianImport / baseline.importMsMedian,
          },
          goalsMet: overBundle.length === 0 && medianImport <= IMPORT_LIMIT_MS,
        }),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
