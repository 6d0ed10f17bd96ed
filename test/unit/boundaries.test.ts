/**
 * The boundaries `npm run lint` enforces (biome.json `overrides`, `noRestrictedImports`): the kernel
 * imports neither `lib/` nor any context; a context imports another only through its `index.ts`;
 * `functions/**` never imports `lib/**`. Each case lints a one-line module as if it lived at that
 * path (a probe file written there for the run and removed after), so a violating import is shown
 * to fail the check, and a compliant one to pass.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIOME = 'node_modules/.bin/biome';

function lint(path: string, source: string): { ok: boolean; output: string } {
  // A rule may cover a folder no file lives in yet (jobs have no handlers of their own: a clean
  // clone has no functions/jobs/handlers/), so the probe makes the folder and removes what it made.
  const folder = dirname(path);
  const made = existsSync(folder) ? undefined : mkdirSync(folder, { recursive: true });
  const probe = join(folder, `boundary-probe-${randomUUID().slice(0, 8)}.ts`);
  writeFileSync(probe, `${source}\n`);
  try {
    const run = spawnSync(BIOME, ['lint', probe], { encoding: 'utf8' });
    return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(made ?? probe, { recursive: true, force: true });
  }
}

describe('import boundaries', () => {
  it.each([
    ['functions/kernel/probe.ts', "export { functions } from '../../lib/manifest.js';"],
    ['functions/kernel/probe.ts', "export { tenantStore } from '../tenants/index.js';"],
    ['functions/tenants/probe.ts', "export { functions } from '../../lib/manifest.js';"],
    ['functions/tenants/probe.ts', "export { checkHealth } from '../health/health.js';"],
    [
      'functions/health/handlers/probe.ts',
      "export { DynamoDbTenantStore } from '../../tenants/tenant-store.js';",
    ],
    ['functions/health/handlers/probe.ts', "export { functions } from '../../../lib/manifest.js';"],
    // The contexts whose boundary was a warning until the campaigns context moved to its layout.
    ['functions/campaigns/probe.ts', "export { getTenant } from '../tenants/tenant-store.js';"],
    [
      'functions/campaigns/probe.ts',
      "export { parseWhatsAppId } from '../conversations/identity.js';",
    ],
    [
      'functions/campaigns/handlers/probe.ts',
      "export { getTenant } from '../../tenants/tenant-store.js';",
    ],
    ['functions/webhooks/probe.ts', "export { sendToRecipient } from '../campaigns/sender.js';"],
    ['functions/jobs/handlers/probe.ts', "export { functions } from '../../../lib/manifest.js';"],
    ['functions/conversations/probe.ts', "export { jobKey } from '../jobs/job-store.js';"],
    // Jobs import only the kernel: conversations imports jobs, never the other way round.
    ['functions/jobs/probe.ts', "export { inboundDeps } from '../conversations/index.js';"],
    ['functions/jobs/probe.ts', "export { keys } from '../conversations/items.js';"],
    ['functions/jobs/probe.ts', "export { tenantStore } from '../tenants/index.js';"],
    [
      'functions/jobs/handlers/probe.ts',
      "export { matchLead } from '../../conversations/index.js';",
    ],
  ])('%s: `%s` fails the lint', (path, source) => {
    const result = lint(path, source);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('noRestrictedImports');
  });

  it.each([
    ['functions/kernel/probe.ts', "export { ddb } from './clients.js';"],
    ['functions/tenants/probe.ts', "export { checkHealth } from '../health/index.js';"],
    ['functions/tenants/probe.ts', "export { httpHandler } from '../kernel/http.js';"],
    ['functions/health/handlers/probe.ts', "export { healthDeps } from '../deps.js';"],
    ['functions/health/handlers/probe.ts', "export { tenantStore } from '../../tenants/index.js';"],
    [
      'functions/campaigns/probe.ts',
      "export { parseWhatsAppId } from '../conversations/index.js';",
    ],
    ['functions/campaigns/handlers/probe.ts', "export { campaignStore } from '../deps.js';"],
    [
      'functions/campaigns/handlers/probe.ts',
      "export { authenticate } from '../../tenants/index.js';",
    ],
    ['functions/jobs/probe.ts', "export { claimLease } from '../kernel/lease.js';"],
    ['functions/jobs/probe.ts', "export { runJob } from './run-job.js';"],
    [
      'functions/jobs/handlers/probe.ts',
      "export { queueConsumer } from '../../kernel/queue-consumer.js';",
    ],
    ['functions/conversations/probe.ts', "export { runJob } from '../jobs/index.js';"],
  ])('%s: `%s` passes', (path, source) => {
    const result = lint(path, source);
    expect(result.output).not.toContain('noRestrictedImports');
    expect(result.ok).toBe(true);
  });
});
