/**
 * Docs that cannot drift: every generated part of `docs/` (the OpenAPI document, `docs/api.md`'s
 * route table, `docs/runbook.md`'s metrics table) is exactly what `npx onceflow docs` writes from
 * the manifest and the metrics catalogue, and nothing in the repository points at the contract
 * files outside it (`../shared/`), which a reader of the repository does not have.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedDocs } from '../../lib/docs.js';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

/** Files the repository ships: sources, docs, configuration (not dependencies or local data). */
function repositoryFiles(dir = PROJECT_ROOT): string[] {
  const skip = new Set(['node_modules', '.git', 'cdk.out', '.local', 'coverage', 'test-artifacts']);
  return readdirSync(dir).flatMap((name) => {
    if (skip.has(name) || name.startsWith('.bench')) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return repositoryFiles(path);
    return /\.(md|ts|mjs|js|json|sh|pml)$|^run$/.test(name) ? [path] : [];
  });
}

describe('generated docs', () => {
  for (const file of generatedDocs(read)) {
    it(`${file.path} is what \`npx onceflow docs\` writes`, () => {
      expect(read(file.path)).toBe(file.text);
    });
  }

  it('never points at ../shared/, which is not in the repository', () => {
    const pointing = repositoryFiles()
      .filter((path) => /\.\.\/shared\//.test(readFileSync(path, 'utf8')))
      .map((path) => relative(PROJECT_ROOT, path));
    // This file names the pattern it looks for.
    expect(pointing.filter((p) => p !== 'test/unit/generated-docs.test.ts')).toEqual([]);
  });
});
