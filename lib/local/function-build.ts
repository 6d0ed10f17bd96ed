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
 * - The worker's own bootstrap (`function-worker.ts`).
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
  /** The worker bootstrap (a path). */
  readonly workerFile: string;
  /** Milliseconds spent building (0 when everything came from the cache). */
  readonly buildMs: number;
  readonly cached: boolean;
}

interface CacheRecord {
  readonly dir: string;
  /** Input path (relative to the project root) → sha1 of its content. */
  readonly inputs: Readonly<Record<string, string>>;
}

export async function buildFunctions(options: FunctionBuildOptions): Promise<BuiltFunctions> {
  const cacheDir =
    options.cacheDir ?? join(options.projectRoot, 'node_modules', '.cache', 'onceflow');
  const started = performance.now();
  const [functions, worker] = await Promise.all([
    cachedBuild({
      cacheDir,
      projectRoot: options.projectRoot,
      unit: options.mode,
      options: (outdir) =>
        options.mode === 'bundles'
          ? bundleOptions(options.entries, options.projectRoot, options.target, outdir)
          : developmentOptions(options.entries, options.projectRoot, outdir),
    }),
    cachedBuild({
      cacheDir,
      projectRoot: options.projectRoot,
      unit: 'worker',
      options: (outdir) => ({
        entryPoints: {
          'function-worker': resolve(options.projectRoot, 'lib/local/function-worker.ts'),
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
  const modules = Object.fromEntries(
    Object.keys(options.entries).map((name) => [
      name,
      pathToFileURL(
        options.mode === 'bundles'
          ? join(functions.dir, name, HANDLER_BUNDLE_FILE)
          : join(functions.dir, `${name}.mjs`),
      ).href,
    ]),
  );
  const cached = functions.cached && worker.cached;
  return {
    modules,
    workerFile: join(worker.dir, 'function-worker.mjs'),
    buildMs: cached ? 0 : Math.round(performance.now() - started),
    cached,
  };
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
  /** Names the cache slot: `sources`, `bundles`, `worker`. */
  readonly unit: string;
  readonly options: (outdir: string) => BuildOptions;
}

/**
 * Runs `options` unless the last build with the same options read exactly the same files.
 * The options' key covers esbuild's version, the options themselves (plugins by name) and the
 * module that defines the handler options.
 */
async function cachedBuild(input: CachedBuildInput): Promise<{ dir: string; cached: boolean }> {
  const unitDir = join(input.cacheDir, input.unit);
  const probe = input.options('<outdir>');
  const key = sha1(
    JSON.stringify({
      esbuild: esbuildVersion,
      options: { ...probe, plugins: probe.plugins?.map((plugin) => plugin.name) },
      handlerOptions: readFileSync(
        join(input.projectRoot, 'lib', 'bundling', 'handler-bundle.ts'),
        'utf8',
      ),
    }),
  ).slice(0, 16);
  const recordFile = join(unitDir, `${key}.json`);
  const record = readRecord(recordFile);
  if (record && existsSync(join(unitDir, record.dir)) && unchanged(record, input.projectRoot)) {
    return { dir: join(unitDir, record.dir), cached: true };
  }

  mkdirSync(unitDir, { recursive: true });
  const scratch = join(unitDir, `tmp-${randomUUID()}`);
  try {
    const result = await build({ ...input.options(scratch), metafile: true, write: true });
    const inputs: Record<string, string> = {};
    for (const path of Object.keys(result.metafile?.inputs ?? {})) {
      // Plugin namespaces (`zod-en:...`) are generated, not read from a file.
      if (/^[a-z-]+:/.test(path)) continue;
      const absolute = resolve(input.projectRoot, path);
      inputs[relative(input.projectRoot, absolute)] = fileHash(absolute);
    }
    const dir = `${key}-${sha1(JSON.stringify(inputs)).slice(0, 16)}`;
    try {
      renameSync(scratch, join(unitDir, dir));
    } catch {
      // Another runtime built the same inputs first: theirs is as good.
      rmSync(scratch, { recursive: true, force: true });
    }
    const recordTemp = `${recordFile}.${randomUUID()}`;
    writeFileSync(recordTemp, JSON.stringify({ dir, inputs } satisfies CacheRecord));
    renameSync(recordTemp, recordFile);
    prune(unitDir, dir);
    return { dir: join(unitDir, dir), cached: false };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}

function readRecord(file: string): CacheRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
}

function unchanged(record: CacheRecord, projectRoot: string): boolean {
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

function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/**
 * Keeps the three newest builds of a unit besides `keep`: a runtime still starting on an older
 * one is not pulled from under it, and the cache does not grow without bound.
 */
function prune(unitDir: string, keep: string): void {
  const builds = readdirSync(unitDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('tmp-') && entry.name !== keep)
    .map((entry) => ({ name: entry.name, mtimeMs: statSync(join(unitDir, entry.name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of builds.slice(3))
    rmSync(join(unitDir, old.name), { recursive: true, force: true });
}
