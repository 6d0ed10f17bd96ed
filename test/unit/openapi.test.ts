/**
 * The OpenAPI document and the manifest cannot drift: every manifest route is a documented
 * operation with its path parameters, and no path exists that the manifest does not route.
 * docs/openapi.json is the generated document, and docs/api.md names every routed path.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { documentedRoutes, openApiDocument, undocumentedRoutes } from '../../lib/openapi.js';

type Operation = {
  operationId: string;
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content: { 'application/json': { schema: { type?: string } } } };
};

const doc = openApiDocument() as {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
};

describe('OpenAPI from the handlers', () => {
  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every manifest route', () => {
    expect(undocumentedRoutes()).toEqual([]);
    for (const route of documentedRoutes()) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation?.operationId).toBe(route.functionName);
      const params = [...route.path.matchAll(/\{([^}+]+)\+?\}/g)].map((m) => m[1]);
      const pathParams = (operation?.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name);
      expect(pathParams).toEqual(params);
    }
  });

  it('has no operation the manifest does not route', () => {
    const routed = new Set(documentedRoutes().map((r) => `${r.method.toLowerCase()} ${r.path}`));
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations))
        expect(routed.has(`${method} ${path}`)).toBe(true);
    }
  });

  it("takes request bodies from the handlers' zod schemas", () => {
    const create = doc.paths['/v1/campaigns']?.post;
    const schema = create?.requestBody?.content['application/json'].schema as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    expect(Object.keys(schema?.properties ?? {})).toEqual(
      expect.arrayContaining(['name', 'template', 'phoneNumberId', 'recipients']),
    );
    expect(schema?.required).toEqual(expect.arrayContaining(['name', 'template', 'phoneNumberId']));
  });

  it('is what docs/openapi.json holds (npx onceflow docs)', () => {
    const file = JSON.parse(readFileSync(join(PROJECT_ROOT, 'docs/openapi.json'), 'utf8'));
    expect(file).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('names every routed path in docs/api.md', () => {
    const api = readFileSync(join(PROJECT_ROOT, 'docs/api.md'), 'utf8');
    for (const route of documentedRoutes())
      expect(api, route.path).toContain(`${route.method} ${route.path}`);
  });
});
