/**
 * The import graph between the contexts of `functions/` (a context is a folder; the kernel is one
 * too), read from the source text: every `from '…'` / `import('…')` whose path leaves the folder
 * names the context it lands in. `contextCycles` lists every cycle of that graph, so "no context
 * cycle" is a check anyone can run (`test/unit/context-cycles.test.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Context → the contexts it imports (with one importing file each, to say where). */
export type ContextGraph = Map<string, Map<string, string>>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const SPECIFIER = /(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

export function contextGraph(functionsDir: string): ContextGraph {
  const root = resolve(functionsDir);
  const graph: ContextGraph = new Map();
  for (const file of sourceFiles(root)) {
    const from = relative(root, file).split(sep)[0] ?? '';
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const match of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const target = relative(root, resolve(dirname(file), match[1] ?? ''));
      if (target.startsWith('..')) continue; // outside functions/ (lib/ has its own rule)
      const to = target.split(sep)[0] ?? '';
      if (to !== from && !edges.has(to)) edges.set(to, relative(root, file));
    }
  }
  return graph;
}

/** Every elementary cycle, each once, as the list of contexts around it (`a → b → a`). */
export function contextCycles(graph: ContextGraph): string[][] {
  const cycles = new Map<string, string[]>();
  const visit = (start: string, node: string, path: string[]) => {
    for (const next of graph.get(node)?.keys() ?? []) {
      if (next === start) {
        // One name per cycle: rotated to start at its smallest context.
        const at = path.indexOf([...path].sort()[0] ?? start);
        const rotated = [...path.slice(at), ...path.slice(0, at)];
        cycles.set(rotated.join(' → '), [...rotated, rotated[0] ?? start]);
      } else if (!path.includes(next)) visit(start, next, [...path, next]);
    }
  };
  for (const start of graph.keys()) visit(start, start, [start]);
  return [...cycles.values()];
}

/** `a → b (a/x.ts)` lines of a cycle, naming a file that makes each step. */
export function describeCycle(graph: ContextGraph, cycle: readonly string[]): string {
  return cycle
    .slice(0, -1)
    .map((from, i) => {
      const to = cycle[i + 1] ?? '';
      return `${from} → ${to} (${graph.get(from)?.get(to) ?? '?'})`;
    })
    .join(', ');
}
