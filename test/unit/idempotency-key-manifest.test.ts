/**
 * `Idempotency-Key` cannot be forgotten on a new route: every POST route of the manifest says
 * whether it honours the header (or why it need not), and a route that honours it has a handler
 * that declares the kernel's option and a function that may write the idempotency table. The
 * behaviour of each honoured route is driven by `test/integration/whole-service/idempotency-key-routes.test.ts`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { functions, httpRoutes } from '../../lib/manifest.js';

const DECLARES_OPTION = /httpHandler\(\{\s*idempotencyKey\b/;

describe('Idempotency-Key in the manifest', () => {
  it('every POST route declares whether it honours the header', () => {
    const undeclared = httpRoutes()
      .filter((route) => route.method === 'POST' && route.idempotencyKey === undefined)
      .map((route) => `${route.method} ${route.path}`);
    expect(undeclared).toEqual([]);
  });

  it("a route that honours it has the handler's option and the idempotency table", () => {
    const wrong: string[] = [];
    for (const [name, spec] of Object.entries(functions)) {
      if (spec.trigger.kind !== 'http') continue;
      const honours = spec.trigger.routes.some((route) => route.idempotencyKey === 'honoured');
      const source = readFileSync(join(PROJECT_ROOT, spec.entry), 'utf8');
      if (honours !== DECLARES_OPTION.test(source)) {
        wrong.push(
          `${name}: manifest ${honours ? 'honours' : 'does not honour'} the key, handler disagrees`,
        );
      }
      if (honours && spec.tables.idempotency !== 'readWrite') {
        wrong.push(`${name}: honours the key without idempotency: 'readWrite'`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
