/**
 * `npm run bench -- startup [--runs N] [--modes sources,bundles] [--json]`: what `npm start` costs
 * before it answers — the time from spawning `tsx bin/local.ts` to `GET /_local/ready` answering
 * 200, and the resident memory of each process of its tree at that moment (the runtime's node
 * process with its function workers, the DynamoDB Local JVM, tsx's own wrapper).
 *
 * Each run starts the runtime as a developer does (`test/support/local-runtime.ts`: a fresh data
 * directory, free ports) in the given `ONCEFLOW_RUNTIME` mode, reads `/proc/<pid>/status` of every
 * process in its process group, then stops it. Medians of `--runs` (default 3) per mode. The
 * machine's load average is printed beside the figures: on a shared machine, compare runs taken
 * together, never across sessions.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { spawnLocalRuntime } from '../support/local-runtime.js';
import { median } from './coldstart.bench.js';

interface Sample {
  readonly readyMs: number;
  /** RSS in MB by process kind: `runtime` (node), `dynamodb` (java), `tsx` (the wrapper). */
  readonly rssMb: Record<string, number>;
}

function parseArgs(args: readonly string[]) {
  let runs = 3;
  let modes = ['sources'];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    if (flag === '--runs') runs = Number(inline ?? args[++i]);
    if (flag === '--modes') modes = (inline ?? args[++i] ?? '').split(',').filter(Boolean);
    if (flag === '--json') json = true;
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  return { runs, modes, json };
}

/** Every process of the group led by `pgid`, with its RSS (kB) and command name. */
function groupMembers(pgid: number): Array<{ pid: number; rssKb: number; args: string }> {
  const out = execFileSync('ps', ['-o', 'pid=,rss=,args=', '-g', String(pgid)], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), rssKb: Number(m[2]), args: m[3] ?? '' }));
}

/** VmHWM: the peak RSS of a process so far (kB), from /proc. */
function peakRssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function kindOf(args: string): string {
  if (/\bjava\b/.test(args)) return 'dynamodb';
  if (/tsx\/dist\/cli|tsx\/cli/.test(args)) return 'tsx';
  return 'runtime';
}

async function sample(mode: string): Promise<Sample> {
  const runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_RUNTIME: mode },
    readyTimeoutMs: 600_000,
  });
  try {
    const rssMb: Record<string, number> = {};
    for (const member of groupMembers(runtime.pid)) {
      const kind = kindOf(member.args);
      rssMb[kind] = (rssMb[kind] ?? 0) + member.rssKb / 1024;
      if (kind === 'runtime') {
        rssMb['runtime peak'] = (rssMb['runtime peak'] ?? 0) + peakRssKb(member.pid) / 1024;
      }
    }
    return { readyMs: runtime.readyMs, rssMb };
  } finally {
    await runtime.stop();
  }
}

export default async function startup(args: string[]): Promise<void> {
  const { runs, modes, json } = parseArgs(args);
  const results: Record<string, { readyMs: number; rssMb: Record<string, number> }> = {};
  for (const mode of modes) {
    const samples: Sample[] = [];
    for (let run = 0; run < runs; run++) samples.push(await sample(mode));
    const kinds = [...new Set(samples.flatMap((s) => Object.keys(s.rssMb)))].sort();
    results[mode] = {
      readyMs: Math.round(median(samples.map((s) => s.readyMs))),
      rssMb: Object.fromEntries(
        kinds.map((kind) => [kind, Math.round(median(samples.map((s) => s.rssMb[kind] ?? 0)))]),
      ),
    };
  }
  const load = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  if (json) {
    console.log(JSON.stringify({ runs, load, cpus: cpus().length, results }));
    return;
  }
  console.log(`npm start to ready (median of ${runs}; load ${load} on ${cpus().length} CPUs)`);
  for (const [mode, result] of Object.entries(results)) {
    const memory = Object.entries(result.rssMb)
      .map(([kind, mb]) => `${kind} ${mb} MB`)
      .join(', ');
    console.log(`  ${mode.padEnd(8)} ready ${(result.readyMs / 1000).toFixed(1)} s; RSS ${memory}`);
  }
}
