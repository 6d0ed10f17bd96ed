/**
 * `<dataDir>/runtime.json`: the ports of the runtime running on that data directory, written once it
 * is ready and removed when it stops, so the ops CLI (`npx onceflow`) talks to the runtime that is
 * actually running instead of guessing the default ports. A runtime killed with `kill -9` leaves the
 * file behind; its `pid` tells a reader whether the process is still there.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUNTIME_FILE = 'runtime.json';

export interface RuntimePorts {
  readonly api: number;
  readonly sim: number;
  readonly dynamodb: number;
  readonly sqs: number;
}

export interface RuntimeFile {
  readonly pid: number;
  readonly startedAt: string;
  readonly ports: RuntimePorts;
}

export function runtimeFilePath(dataDir: string): string {
  return join(dataDir, RUNTIME_FILE);
}

export function writeRuntimeFile(dataDir: string, ports: RuntimePorts): void {
  const file: RuntimeFile = { pid: process.pid, startedAt: new Date().toISOString(), ports };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(runtimeFilePath(dataDir), `${JSON.stringify(file, null, 2)}\n`);
}

/** The file as the running (or last) runtime wrote it; undefined when absent or unreadable. */
export function readRuntimeFile(dataDir: string): RuntimeFile | undefined {
  try {
    const json = JSON.parse(readFileSync(runtimeFilePath(dataDir), 'utf8')) as Partial<RuntimeFile>;
    const p = json.ports;
    const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
    if (!p || !ok(p.api) || !ok(p.sim) || !ok(p.dynamodb) || !ok(p.sqs)) return undefined;
    return { pid: Number(json.pid), startedAt: String(json.startedAt), ports: p };
  } catch {
    return undefined;
  }
}

/** Removes the file if this process wrote it (a second runtime on the same directory keeps its own). */
export function removeRuntimeFile(dataDir: string): void {
  if (readRuntimeFile(dataDir)?.pid === process.pid) {
    rmSync(runtimeFilePath(dataDir), { force: true });
  }
}

/** True when a process with this id exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
