/**
 * The code the local runtime's function workers load, built with esbuild and cached:
 *
 * - `bundles`: the deployed form. Every function's bundle with the stack's own options
 *   (`handlerBuildOptions`, the runtime's target), as `cdk synth` builds it: the same `index.mjs`
 *   byte for byte (`test/infra/local-bundles.test.ts`), built in one esbuild run with one entry point
 *   per function, so files the functions share are parsed once.
 * - `sources`: the development form (`npm start`). The TypeScript sources bundled unminified with
 *   source maps, the functions' shared code split into common chunks: workers cannot run
 *   TypeScript, and a worker that loads node_modules file by file costs several times the memory
 *   and start-up time of one that loads a bundle (figures in the report of issue 19).
 * - The workers' own code: the function bootstrap (`function-worker.ts`) and the AWS gateway
 *   (`gateway-worker.ts`).
 *
 * A build is reused while every file it read (esbuild's metafile inputs) has the same content, so
 * a second start, and every e2e test after the first, skips it. Builds go to a fresh directory
 * renamed into place, so runtimes starting together never see a half-written one.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildOptions, build, version as esbuildVersion } from 'esbuild';
import {
  CREATE_REQUIRE_BANNER,
  HANDLER_BUNDLE_FILE,
  handlerBuildOptions,
} from '../bundling/handler-bundle.js';

export type RuntimeMode = 'sources' | 'bundles';

/** `ONCEFLOW_RUNTIME`: `bundles` runs the deployed bundles; anything else (or unset) the sources. */
export function runtimeModeFrom(value: string | undefined): RuntimeMode {
  if (value === undefined || value === '' || value === 'sources') return 'sources';
  if (value === 'bundles') return 'bundles';
  throw new Error(`ONCEFLOW_RUNTIME must be 'sources' or 'bundles', got '${value}'`);
}

export interface FunctionBuildOptions {
  readonly mode: RuntimeMode;
  /** Function name → handler entry, relative to `projectRoot`. */
  readonly entries: Readonly<Record<string, string>>;
  readonly projectRoot: string;
  /** esbuild target of the deployed runtime (`ESBUILD_TARGET`). */
  readonly target: string;
  /** @default `<projectRoot>/node_modules/.cache/onceflow` */
  readonly cacheDir?: string;
}

export interface BuiltFunctions {
  /** Function name → file: URL of the module exporting its `handler`. */
  readonly modules: Readonly<Record<string, string>>;
  /** The function worker's bootstrap (a path). */
  readonly workerFile: string;
  /** The AWS gateway's worker (a path). */
  readonly gatewayWorkerFile: string;
  /** Milliseconds spent building (0 when everything came from the cache). */
  readonly buildMs: number;
  readonly cached: boolean;
}

interface CacheRecord {
  readonly dir: string;
  /** Input path (relative to the project root) → sha1 of its content. */
  readonly inputs: Readonly<Record<string, string>>;
}

/** Where the local runtime keeps what it builds: with the dependencies, which a clean install wipes. */
export function defaultCacheDir(projectRoot: string): string {
  return join(projectRoot, 'node_modules', '.cache', 'onceflow');
}

export async function buildFunctions(options: FunctionBuildOptions): Promise<BuiltFunctions> {
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.projectRoot);
  const started = performance.now();
  const [functions, worker] = await Promise.all([
    options.mode === 'bundles'
      ? cachedBundles(cacheDir, options)
      : cachedBuild({
          cacheDir,
          projectRoot: options.projectRoot,
          unit: 'sources',
          options: (outdir) => developmentOptions(options.entries, options.projectRoot, outdir),
        }).then(({ dir, cached }) => ({
          cached,
          modules: Object.fromEntries(
            Object.keys(options.entries).map((name) => [name, join(dir, `${name}.mjs`)]),
          ),
        })),
    cachedBuild({
      cacheDir,
      projectRoot: options.projectRoot,
      unit: 'worker',
      options: (outdir) => ({
        entryPoints: {
          'function-worker': resolve(options.projectRoot, 'lib/local/function-worker.ts'),
          'gateway-worker': resolve(options.projectRoot, 'lib/local/gateway-worker.ts'),
        },
        outdir,
        outExtension: { '.js': '.mjs' },
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        banner: { js: CREATE_REQUIRE_BANNER },
        sourcemap: 'linked',
        logLevel: 'silent',
      }),
    }),
  ]);
  const cached = functions.cached && worker.cached;
  return {
    modules: Object.fromEntries(
      Object.entries(functions.modules).map(([name, path]) => [name, pathToFileURL(path).href]),
    ),
    workerFile: join(worker.dir, 'function-worker.mjs'),
    gatewayWorkerFile: join(worker.dir, 'gateway-worker.mjs'),
    buildMs: cached ? 0 : Math.round(performance.now() - started),
    cached,
  };
}

/**
 * The deployed bundles, cached one function at a time: a bundle is reused while the files it was
 * built from (its output's inputs in the metafile) are unchanged, so a manifest variant or an
 * edited handler rebuilds only the bundles it changes, all of them in one esbuild run.
 */
async function cachedBundles(
  cacheDir: string,
  options: FunctionBuildOptions,
): Promise<{ cached: boolean; modules: Record<string, string> }> {
  const unitDir = join(cacheDir, 'bundles');
  const optionsKey = buildKey(
    bundleOptions({}, options.projectRoot, options.target, '<outdir>'),
    options.projectRoot,
  );
  const keyOf = (entry: string) => sha1(`${optionsKey}:${entry}`).slice(0, 16);
  const modules: Record<string, string> = {};
  const missing: Record<string, string> = {};
  for (const [name, entry] of Object.entries(options.entries)) {
    const dir = reusable(unitDir, keyOf(entry), options.projectRoot);
    if (dir) modules[name] = join(dir, HANDLER_BUNDLE_FILE);
    else missing[name] = entry;
  }
  if (Object.keys(missing).length === 0) return { cached: true, modules };

  mkdirSync(unitDir, { recursive: true });
  const scratch = join(unitDir, `tmp-${randomUUID()}`);
  try {
    const result = await build({
      ...bundleOptions(missing, options.projectRoot, options.target, scratch),
      metafile: true,
    });
    for (const [name, entry] of Object.entries(missing)) {
      const output = relative(options.projectRoot, join(scratch, name, HANDLER_BUNDLE_FILE));
      const inputs = Object.keys(result.metafile?.outputs[output]?.inputs ?? {});
      if (inputs.length === 0) throw new Error(`esbuild wrote no ${output} for ${name}`);
      const dir = store(
        unitDir,
        keyOf(entry),
        join(scratch, name),
        hashInputs(inputs, options.projectRoot),
      );
      modules[name] = join(dir, HANDLER_BUNDLE_FILE);
    }
    return { cached: false, modules };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** One entry point per function, with the stack's options: each output is `<name>/index.mjs`. */
function bundleOptions(
  entries: Readonly<Record<string, string>>,
  projectRoot: string,
  target: string,
  outdir: string,
): BuildOptions {
  const {
    entryPoints: _single,
    outfile: _outfile,
    ...shared
  } = handlerBuildOptions({
    entry: '',
    outfile: '',
    target,
  });
  return {
    ...shared,
    entryPoints: Object.fromEntries(
      Object.entries(entries).map(([name, entry]) => [
        `${name}/${HANDLER_BUNDLE_FILE.replace(/\.mjs$/, '')}`,
        resolve(projectRoot, entry),
      ]),
    ),
    outdir,
    outExtension: { '.js': '.mjs' },
    absWorkingDir: projectRoot,
  };
}

/** The sources, unminified, with their shared code in common chunks. */
function developmentOptions(
  entries: Readonly<Record<string, string>>,
  projectRoot: string,
  outdir: string,
): BuildOptions {
  return {
    entryPoints: Object.fromEntries(
      Object.entries(entries).map(([name, entry]) => [name, resolve(projectRoot, entry)]),
    ),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    banner: { js: CREATE_REQUIRE_BANNER },
    sourcemap: 'linked',
    absWorkingDir: projectRoot,
    logLevel: 'silent',
  };
}

interface CachedBuildInput {
  readonly cacheDir: string;
  readonly projectRoot: string;
  /** Names the cache slot: `sources`, `worker`. */
  readonly unit: string;
  readonly options: (outdir: string) => BuildOptions;
}

/**
 * What a build's output depends on besides its input files: esbuild's version, the options
 * (plugins by name) and the module that defines the handler options.
 */
function buildKey(options: BuildOptions, projectRoot: string): string {
  return sha1(
    JSON.stringify({
      esbuild: esbuildVersion,
      options: { ...options, plugins: options.plugins?.map((plugin) => plugin.name) },
      handlerOptions: readFileSync(
        join(projectRoot, 'lib', 'bundling', 'handler-bundle.ts'),
        'utf8',
      ),
    }),
  ).slice(0, 16);
}

/** Runs `options` unless the last build with the same options read exactly the same files. */
async function cachedBuild(input: CachedBuildInput): Promise<{ dir: string; cached: boolean }> {
  const unitDir = join(input.cacheDir, input.unit);
  const key = buildKey(input.options('<outdir>'), input.projectRoot);
  const reused = reusable(unitDir, key, input.projectRoot);
  if (reused) return { dir: reused, cached: true };

  mkdirSync(unitDir, { recursive: true });
  const scratch = join(unitDir, `tmp-${randomUUID()}`);
  try {
    const result = await build({ ...input.options(scratch), metafile: true });
    const inputs = hashInputs(Object.keys(result.metafile?.inputs ?? {}), input.projectRoot);
    return { dir: store(unitDir, key, scratch, inputs), cached: false };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The directory of the build recorded under `key`, if its inputs are all unchanged. */
function reusable(unitDir: string, key: string, projectRoot: string): string | undefined {
  const record = readRecord(join(unitDir, `${key}.json`));
  if (!record) return undefined;
  const dir = join(unitDir, record.dir);
  return existsSync(dir) && unchanged(record, projectRoot) ? dir : undefined;
}

/**
 * Moves a finished build from `scratch` into the cache and records it under `key`. The rename is
 * atomic: a runtime starting meanwhile sees the old build or the new one, never half of one.
 */
function store(
  unitDir: string,
  key: string,
  scratch: string,
  inputs: Readonly<Record<string, string>>,
): string {
  const dir = `${key}-${sha1(JSON.stringify(inputs)).slice(0, 16)}`;
  try {
    renameSync(scratch, join(unitDir, dir));
  } catch {
    // Another runtime built the same inputs first: theirs is as good.
  }
  const recordFile = join(unitDir, `${key}.json`);
  const recordTemp = `${recordFile}.${randomUUID()}`;
  writeFileSync(recordTemp, JSON.stringify({ dir, inputs } satisfies CacheRecord));
  renameSync(recordTemp, recordFile);
  prune(unitDir, key, dir);
  return join(unitDir, dir);
}

/** Input path (relative to the project root) → sha1, for a metafile's inputs. */
export function hashInputs(paths: readonly string[], projectRoot: string): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const path of paths) {
    // Plugin namespaces (`zod-en:...`) are generated, not read from a file.
    if (/^[a-z-]+:/.test(path)) continue;
    const absolute = resolve(projectRoot, path);
    inputs[relative(projectRoot, absolute)] = fileHash(absolute);
  }
  return inputs;
}

function readRecord(file: string): CacheRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
}

/** Whether every recorded input still has the content it had. */
export function unchanged(record: Pick<CacheRecord, 'inputs'>, projectRoot: string): boolean {
  return Object.entries(record.inputs).every(([path, hash]) => {
    try {
      return fileHash(join(projectRoot, path)) === hash;
    } catch {
      return false;
    }
  });
}

const hashes = new Map<string, { mtimeMs: number; size: number; hash: string }>();

/** sha1 of a file, remembered while its mtime and size stay the same (one process). */
function fileHash(path: string): string {
  const stat = statSync(path);
  const known = hashes.get(path);
  if (known && known.mtimeMs === stat.mtimeMs && known.size === stat.size) return known.hash;
  const hash = sha1(readFileSync(path));
  hashes.set(path, { mtimeMs: stat.mtimeMs, size: stat.size, hash });
  return hash;
}

export function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/**
 * Removes older builds recorded under `key` (keeping the two newest besides `keep`, which a runtime
 * still starting may be loading) and scratch directories a killed build left behind.
 */
function prune(unitDir: string, key: string, keep: string): void {
  const hourAgo = Date.now() - 3_600_000;
  const entries = readdirSync(unitDir, { withFileTypes: true }).filter((entry) =>
    entry.isDirectory(),
  );
  for (const entry of entries) {
    if (entry.name.startsWith('tmp-') && statSync(join(unitDir, entry.name)).mtimeMs < hourAgo) {
      rmSync(join(unitDir, entry.name), { recursive: true, force: true });
    }
  }
  const builds = entries
    .filter((entry) => entry.name.startsWith(`${key}-`) && entry.name !== keep)
    .map((entry) => ({ name: entry.name, mtimeMs: statSync(join(unitDir, entry.name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of builds.slice(2)) {
    rmSync(join(unitDir, old.name), { recursive: true, force: true });
  }
}
