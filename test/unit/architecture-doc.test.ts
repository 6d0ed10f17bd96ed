/**
 * `docs/architecture.md`'s "which pipeline uses which" table cannot drift: every primitive a row
 * names in backticks is a word of that pipeline's code (the folders below), so a primitive the
 * pipeline stopped using fails here until the row is fixed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';

const PIPELINES: Record<string, readonly string[]> = {
  tenants: ['functions/tenants'],
  // The jobs' queue handler (`processJob`) sits in replies: the one context both jobs and replies
  // are visible from (an AI reply is a job's effect).
  inbound: ['functions/webhooks', 'functions/conversations', 'functions/jobs', 'functions/replies'],
  'campaign sends': ['functions/campaigns'],
  OCI: ['functions/oci'],
  ledger: ['functions/ledger'],
};

function sources(dir: string): string {
  return readdirSync(dir)
    .map((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return sources(path);
      return name.endsWith('.ts') ? readFileSync(path, 'utf8') : '';
    })
    .join('\n');
}

const doc = readFileSync(join(PROJECT_ROOT, 'docs/architecture.md'), 'utf8');
const table = doc.slice(doc.indexOf('| pipeline | primitives |'));
const rows = table
  .split('\n')
  .slice(2)
  .filter((line) => line.startsWith('| '));

describe("architecture.md's pipeline table", () => {
  it('has a row for every pipeline', () => {
    const named = rows.map((row) => row.split('|')[1]?.trim().split(' ')[0]);
    for (const pipeline of Object.keys(PIPELINES)) {
      expect(named).toContain(pipeline.split(' ')[0]);
    }
  });

  for (const [pipeline, folders] of Object.entries(PIPELINES)) {
    it(`names only primitives the ${pipeline} code uses`, () => {
      const row = rows.find((r) => r.startsWith(`| ${pipeline}`));
      expect(row).toBeDefined();
      const primitives = [...(row?.split('|')[2] ?? '').matchAll(/`([A-Za-z]+)`/g)].map(
        (m) => m[1] as string,
      );
      const code = folders.map((f) => sources(join(PROJECT_ROOT, f))).join('\n');
      const unused = primitives.filter((p) => !new RegExp(`\\b${p}\\b`).test(code));
      expect(unused).toEqual([]);
    });
  }
});
