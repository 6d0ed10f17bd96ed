/**
 * The generated parts of `docs/`, written by `npx onceflow docs` and checked by
 * `test/unit/generated-docs.test.ts` (which fails when a committed file differs from what this
 * writes): `docs/openapi.json` (`lib/openapi.ts`), the route table of `docs/api.md` (the manifest's
 * routes with their summary, caller and `Idempotency-Key`), and the metrics table of
 * `docs/runbook.md` (`lib/metrics-catalogue.ts`). Generated tables sit between markers; the prose
 * around them is the author's.
 */
import { RUNBOOK_TABLE_BEGIN, RUNBOOK_TABLE_END, renderMetricsTable } from './metrics-catalogue.js';
import { documentedRoutes, openApiDocument, ROUTE_DOCS, routeKey } from './openapi.js';

export const ROUTES_TABLE_BEGIN = '<!-- routes:begin (generated: npx onceflow docs) -->';
export const ROUTES_TABLE_END = '<!-- routes:end -->';

const CALLER = {
  none: 'anyone',
  admin: 'platform admin key',
  operator: 'operator API key',
  webhookToken: 'tenant webhook token',
  hubSignature: "Meta's signature",
  exportToken: 'tenant export token',
} as const;

/** Every routed path of the manifest, what it does, who calls it, and whether a key replays it. */
export function renderRouteTable(): string {
  const rows = documentedRoutes().map((route) => {
    const doc = ROUTE_DOCS[routeKey(route.method, route.path)];
    const key =
      route.idempotencyKey === 'honoured'
        ? 'replays'
        : route.idempotencyKey
          ? `— (${route.idempotencyKey.notNeeded})`
          : '';
    return `| \`${route.method} ${route.path}\` | ${doc?.summary ?? route.functionName} | ${doc ? CALLER[doc.auth] : ''} | ${key} |`;
  });
  return [
    '| route | what it does | caller | `Idempotency-Key` |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

function replaceBetween(text: string, begin: string, end: string, body: string, file: string) {
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file} lacks the markers ${begin} … ${end}`);
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}

export interface GeneratedFile {
  readonly path: string;
  /** The file as the generator writes it, given its current text. */
  readonly text: string;
}

/** The generated files, computed from their current text (`read`), nothing written. */
export function generatedDocs(read: (path: string) => string): GeneratedFile[] {
  return [
    {
      path: 'docs/openapi.json',
      text: `${JSON.stringify(openApiDocument(), null, 2)}\n`,
    },
    {
      path: 'docs/api.md',
      text: replaceBetween(
        read('docs/api.md'),
        ROUTES_TABLE_BEGIN,
        ROUTES_TABLE_END,
        renderRouteTable(),
        'docs/api.md',
      ),
    },
    {
      path: 'docs/runbook.md',
      text: replaceBetween(
        read('docs/runbook.md'),
        RUNBOOK_TABLE_BEGIN,
        RUNBOOK_TABLE_END,
        renderMetricsTable(),
        'docs/runbook.md',
      ),
    },
  ];
}
