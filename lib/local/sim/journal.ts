/**
 * A simulator's append-only journal, `<ONCEFLOW_DATA_DIR>/sim/<name>.jsonl`: what the provider
 * accepted survives a runtime restart, as the real provider's records would. One JSON event a
 * line; a line cut short by a kill is skipped on replay.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulatorContext } from './index.js';

export interface Journal<E> {
  /** The events earlier runs recorded, in order. */
  readonly replayed: readonly E[];
  record(event: E): void;
  /** `POST /_sim/reset`: forget everything recorded. */
  clear(): void;
}

export function openJournal<E>(context: SimulatorContext, name: string): Journal<E> {
  const dataDir = join(context.env('ONCEFLOW_DATA_DIR') ?? '.local', 'sim');
  const file = join(dataDir, `${name}.jsonl`);
  mkdirSync(dataDir, { recursive: true });
  const replayed: E[] = [];
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        replayed.push(JSON.parse(line) as E);
      } catch {
        // a line cut short by a kill
      }
    }
  }
  return {
    replayed,
    record: (event) => appendFileSync(file, `${JSON.stringify(event)}\n`),
    clear: () => writeFileSync(file, ''),
  };
}
