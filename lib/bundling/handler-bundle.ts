/**
 * How a Lambda handler is bundled — the one place the esbuild options live. The stack
 * (`OnceflowFunction`, through `bundle-handler.ts`) and the cold-start bench both build with
 * `handlerBuildOptions`, so the bench measures exactly the bundle that is deployed.
 *
 * Why not NodejsFunction's own bundling: it drives the esbuild CLI, which takes no plugins, and
 * the plugins below are needed (see `zodEnglishLocaleOnly` first).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Plugin, PluginBuild } from 'esbuild';

/** ESM bundles still meet CommonJS dependencies that call `require`; give them one. */
export const CREATE_REQUIRE_BANNER =
  "import { createRequire as __onceflowCreateRequire } from 'node:module'; const require = __onceflowCreateRequire(import.meta.url);";

/** esbuild's target for a Lambda runtime: `nodejs24.x` → `node24`. */
export function esbuildTargetOf(lambdaRuntime: string): string {
  const match = /^nodejs(\d+)\.x$/.exec(lambdaRuntime);
  if (!match) throw new Error(`not a Node.js Lambda runtime: ${lambdaRuntime}`);
  return `node${match[1]}`;
}

/** The bundle's file name inside the asset; the Lambda handler is `index.handler`. */
export const HANDLER_BUNDLE_FILE = 'index.mjs';

export interface HandlerBundleInput {
  /** The handler module (absolute, or relative to the working directory). */
  readonly entry: string;
  readonly outfile: string;
  /** esbuild target of the Lambda runtime, e.g. `node24`. */
  readonly target: string;
  /** Writes `<outfile>.map` beside the bundle (the deployed form). @default true */
  readonly sourcemap?: boolean;
  /** @default false */
  readonly metafile?: boolean;
}

/**
 * zod's classic, core and mini entries re-export every locale as a namespace
 * (`export * as locales from '../locales/index.js'`), and Powertools Parser imports
 * `{ z } from 'zod'` — a namespace value esbuild cannot tree-shake (it can only shake
 * `import * as z` used by property access in the importing file). So every handler carried ~50
 * locales (~255 KB minified) that nothing reads: zod configures English itself and onceflow never
 * switches locale. This resolves zod's locale barrel to one exporting only `en`; `z.locales.en`
 * keeps working, any other locale would be `undefined` in the bundle (never in tests, which run
 * unbundled — the cold-start bench imports every bundle, so a load-time use would show there).
 * The handlers' zod/mini configures no locale: `functions/kernel/zod.ts` imports English itself
 * (`zod/v4/locales/en.js`, a file this leaves alone).
 */
export const zodEnglishLocaleOnly: Plugin = {
  name: 'zod-english-locale-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]zod[\\/]v4[\\/](classic|core|mini)$/.test(args.resolveDir)) return undefined;
      return { path: join(dirname(args.resolveDir), 'locales', 'index.js'), namespace: 'zod-en' };
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Powertools (Parser's schemas and helpers, Batch's parser glue) imports `{ z } from 'zod'`: a
 * re-exported namespace used as a value, which esbuild must build whole — every classic schema
 * type, check and helper, used or not (188 KB of a handler bundle against 88 KB when the same
 * schemas are written against `import * as z`). `import * as z` is the same object (zod's
 * `index.js` exports `z` as `import * as z from './v4/classic/external.js'`), and through it
 * esbuild keeps only the properties the file reads. This rewrites that one import statement in
 * Powertools' ESM files; nothing else in them changes. Tests run unbundled against the files as
 * published; the handler-bundle test checks a bundled Parser schema still parses. Since the
 * handlers moved to zod/mini (no Parser under `functions/`) no handler bundle reaches such a file —
 * `test/infra/handler-bundle.test.ts` fails on any classic zod in one — so this rewrites nothing in
 * today's bundles; it stays so that a Powertools module bringing classic zod back costs its
 * namespace's used part, not all of it (the bundle test would still report it).
 */
export const powertoolsZodNamespaceImport: Plugin = {
  name: 'powertools-zod-namespace-import',
  setup(build) {
    build.onLoad(
      { filter: /[\\/]@aws-lambda-powertools[\\/][^\\/]+[\\/]lib[\\/]esm[\\/].*\.js$/ },
      async (args) => {
        const source = await readFile(args.path, 'utf8');
        const rewritten = rewriteZodNamedImport(source);
        return rewritten === source ? undefined : { contents: rewritten, loader: 'js' };
      },
    );
  },
};

/** `import { z } from 'zod'` / `import { ZodError, z } from 'zod'` → a namespace import of `z` (and the rest, named). */
export function rewriteZodNamedImport(source: string): string {
  return source.replace(/import \{([^}]*)\} from 'zod';/g, (statement, list: string) => {
    const names = list
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    if (!names.includes('z')) return statement;
    const rest = names.filter((name) => name !== 'z');
    return `import * as z from 'zod';${rest.length ? ` import { ${rest.join(', ')} } from 'zod';` : ''}`;
  });
}

/**
 * For a stand-in that throws where the real module would run: fails the build when a project
 * source (not node_modules) names what it leaves out, so code cannot start using it unbundled
 * (tests) and meet the stand-in only in Lambda.
 */
function refuseProjectSourcesNaming(
  build: PluginBuild,
  names: RegExp,
  refusal: (name: string) => string,
): void {
  build.onLoad({ filter: /\.ts$/ }, async (args) => {
    if (/[\\/]node_modules[\\/]/.test(args.path)) return undefined;
    const named = names.exec(await readFile(args.path, 'utf8'))?.[1];
    return named ? { errors: [{ text: `${args.path} ${refusal(named)}` }] } : undefined;
  });
}

/**
 * zod 4.6's classic schemas carry JSON Schema generation: every constructor attaches a
 * `processJSONSchema` that calls into `core/json-schema-processors.js`, and `toJSONSchema()` /
 * `~standard.jsonSchema` into `core/to-json-schema.js` — ~16 KB of every bundle with zod, reached
 * only when a schema is turned into JSON Schema, which no handler does (their schemas only
 * parse). For zod's own imports of those two modules this bundles a stand-in: each export throws
 * a named error when called (the `create*Method` factories, which `~standard` calls eagerly,
 * return a function that throws), except `aggregateChecks`, which the string, number and date
 * schemas' `minLength`/`maxLength`/`format` getters read, and which stays the real one. The build
 * fails if project code names JSON Schema (`toJSONSchema`, `jsonSchema`), so a handler cannot
 * start using it unbundled (tests) and meet the stand-in only in Lambda. The handlers are on
 * zod/mini, whose schemas attach no processor: mini reaches the module only through its
 * `toJSONSchema` re-export, which tree shaking drops unless called; its import is stubbed too.
 */
export const zodJsonSchemaStub: Plugin = {
  name: 'zod-json-schema-stub',
  setup(build) {
    build.onResolve(
      { filter: /^\.\.?\/(core\/)?(json-schema-processors|to-json-schema)\.js$/ },
      (args) => {
        if (!/[\\/]zod[\\/]v4[\\/](classic|core|mini)$/.test(args.resolveDir)) return undefined;
        return { path: join(args.resolveDir, args.path), namespace: 'zod-json-schema-stub' };
      },
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-json-schema-stub' }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const names = [
        ...[...source.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]),
        ...[...source.matchAll(/^export \{ \w+ as (\w+) \}/gm)].map((m) => m[1]),
      ] as string[];
      const real = JSON.stringify(args.path);
      return {
        contents: [
          'const notBundled = () => {',
          "  throw new Error('zod JSON Schema is not in this bundle (handler-bundle.ts, zodJsonSchemaStub)');",
          '};',
          ...names.map((name) =>
            name === 'aggregateChecks'
              ? `export { aggregateChecks } from ${real};`
              : name.startsWith('create')
                ? `export const ${name} = () => notBundled;`
                : `export const ${name} = notBundled;`,
          ),
        ].join('\n'),
        resolveDir: dirname(args.path),
        loader: 'js',
      };
    });
    refuseProjectSourcesNaming(
      build,
      /\b(toJSONSchema|jsonSchema)\b/,
      (name) => `names zod's ${name}: JSON Schema generation is not bundled (zodJsonSchemaStub)`,
    );
  },
};

/**
 * libphonenumber-js's `isSupportedCountry(country)` is
 * `metadataJson.countries.hasOwnProperty(country)`: it reads only the keys of the metadata's
 * countries, but importing it brings the whole metadata (`metadata.min.json`, ~82 KB minified)
 * and its accessors. The tenants' schema checks a tenant's default country with it, so every
 * bundle that reaches the tenants surface carried the metadata — 42 of the 61 never parse or
 * format a phone number. For a project module whose only import from `libphonenumber-js` is
 * `isSupportedCountry` (types aside), this bundles a module with that function over the
 * countries' keys of the same installed metadata (`metadata.min.json`, the file the library's
 * default entry reads), with the same own-property test. A module that imports anything else from
 * the library (`kernel/phone.ts`) gets the library as before.
 */
export const libphonenumberCountriesOnly: Plugin = {
  name: 'libphonenumber-countries-only',
  setup(build) {
    build.onResolve({ filter: /^libphonenumber-js$/ }, async (args) => {
      if (args.pluginData === 'libphonenumber-countries-only') return undefined;
      if (/[\\/]node_modules[\\/]/.test(args.importer)) return undefined;
      const source = await readFile(args.importer, 'utf8');
      const statements = [
        ...source.matchAll(/import\s+(type\s+)?([^;]*?)\s+from\s+['"]libphonenumber-js['"]/g),
      ].filter((statement) => !statement[1]);
      const names = statements.flatMap((statement) => {
        const list = /^\{([^}]*)\}$/.exec((statement[2] ?? '').trim())?.[1];
        if (list === undefined) return ['*'];
        return list
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name && !name.startsWith('type '));
      });
      if (names.length === 0 || names.some((name) => name !== 'isSupportedCountry')) {
        return undefined;
      }
      const library = await build.resolve('libphonenumber-js', {
        importer: args.importer,
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: 'libphonenumber-countries-only',
      });
      if (library.errors.length) return { errors: library.errors };
      return {
        path: join(dirname(library.path), 'metadata.min.json'),
        namespace: 'libphonenumber-countries-only',
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'libphonenumber-countries-only' }, async (args) => {
      const metadata = JSON.parse(await readFile(args.path, 'utf8')) as {
        countries: Record<string, unknown>;
      };
      return {
        contents: [
          `const countries = Object.fromEntries(${JSON.stringify(Object.keys(metadata.countries).join(' '))}.split(' ').map((c) => [c, 0]));`,
          'export function isSupportedCountry(country) {',
          '  return Object.prototype.hasOwnProperty.call(countries, country);',
          '}',
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * The X-Ray SDK behind Powertools Tracer (`aws-xray-sdk-core`) and its `cls-hooked` call one
 * function of `semver`, `gte` (a Node/SDK version check), but `require('semver')` is CommonJS and
 * brings the whole package, ~28 KB minified. For those two importers only, `semver` resolves to
 * `{ gte }` from semver's own `functions/gte.js` (same installed version), ~8 KB. The build fails
 * if an importer it applies to calls any other `semver.` member, so an X-Ray SDK update that starts
 * using more of semver cannot ship a bundle where it is undefined. (Today the SDK's one caller is
 * its SDK v2 patcher, which `xrayUnusedOnLambdaStub` leaves out, and Tracer's path never loads
 * cls-hooked's `index.js`, the other: semver is in no handler bundle. This stays for an update that
 * calls it elsewhere.)
 */
export const semverGteOnlyForXray: Plugin = {
  name: 'semver-gte-only-for-xray',
  setup(build) {
    build.onResolve({ filter: /^semver$/ }, async (args) => {
      if (!/[\\/]node_modules[\\/](aws-xray-sdk-core|cls-hooked)[\\/]/.test(args.importer)) {
        return undefined;
      }
      const used = new Set(
        [...(await readFile(args.importer, 'utf8')).matchAll(/\bsemver\.(\w+)/g)].map((m) => m[1]),
      );
      const others = [...used].filter((name) => name !== 'gte');
      if (others.length) {
        return {
          errors: [
            {
              text: `${args.importer} calls semver.${others.join(', semver.')}: only gte is bundled`,
            },
          ],
        };
      }
      return { path: args.importer, namespace: 'semver-gte' };
    });
    build.onLoad({ filter: /.*/, namespace: 'semver-gte' }, (args) => ({
      contents: "module.exports = { gte: require('semver/functions/gte.js') };",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * The X-Ray SDK's call capturer (`patchers/call_capturer.js`) records chosen request and response
 * parameters of each traced AWS call (a DynamoDB call's table name, an SQS call's queue URL) from
 * its whitelist, `resources/aws_whitelist.json`: ~10.6 KB of every bundle, covering six services
 * of which onceflow calls two. It looks a call up by the client's service name
 * (`DynamoDBClient` → `dynamodb`), so entries for services the project has no client of are never
 * read. This bundles the whitelist with only the services of the project's own
 * `@aws-sdk/client-*` dependencies (`client-secrets-manager` → `secretsmanager`), read from
 * package.json at build time: a client added to the dependencies brings its entry back.
 */
export const xrayWhitelistOfProjectServices: Plugin = {
  name: 'xray-whitelist-of-project-services',
  setup(build) {
    build.onLoad(
      { filter: /[\\/]aws-xray-sdk-core[\\/]dist[\\/]lib[\\/]resources[\\/]aws_whitelist\.json$/ },
      async (args) => {
        const whitelist = JSON.parse(await readFile(args.path, 'utf8')) as {
          services: Record<string, unknown>;
        };
        const kept = await projectSdkServices();
        const services = Object.fromEntries(
          Object.entries(whitelist.services).filter(([service]) => kept.has(service)),
        );
        return { contents: JSON.stringify({ ...whitelist, services }), loader: 'json' };
      },
    );
  },
};

const PROJECT_PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));

/** The X-Ray service names of the project's `@aws-sdk/client-*` dependencies (`client-sqs` → `sqs`). */
export async function projectSdkServices(): Promise<Set<string>> {
  const { dependencies = {} } = JSON.parse(await readFile(PROJECT_PACKAGE_JSON, 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return new Set(
    Object.keys(dependencies)
      .map((name) => /^@aws-sdk\/client-(.+)$/.exec(name)?.[1])
      .filter((service): service is string => service !== undefined)
      .map((service) => service.replace(/-/g, '')),
  );
}

/**
 * The X-Ray SDK's middleware utilities start with the centralized sampler
 * (`sampling/default_sampler.js`, which polls the X-Ray service for rules and targets: its rule
 * and target pollers, rule cache, service connector, ~8.8 KB). On Lambda the SDK never uses it:
 * at load (`env/aws_lambda.js` init, when `LAMBDA_TASK_ROOT` is set) it calls
 * `disableCentralizedSampling()`, which swaps in the local sampler (`sampling/local_sampler.js`) —
 * Lambda decides sampling itself and the pollers "were causing errors" there (the SDK's comment,
 * aws-xray-sdk-node#217). This resolves the middleware's `require('./sampling/default_sampler')`
 * to that same local sampler, so the SDK starts where Lambda puts it.
 */
export const xrayLocalSamplerOnly: Plugin = {
  name: 'xray-local-sampler-only',
  setup(build) {
    build.onResolve({ filter: /^\.\/sampling\/default_sampler$/ }, (args) => {
      if (!/[\\/]aws-xray-sdk-core[\\/]dist[\\/]lib[\\/]middleware$/.test(args.resolveDir)) {
        return undefined;
      }
      return { path: join(args.resolveDir, 'sampling', 'local_sampler.js') };
    });
  },
};

/**
 * What the X-Ray SDK's entry (`aws-xray.js`) requires for hosts and libraries a Lambda function of
 * this project has not: the AWS SDK v2 patcher (`captureAWS`, `captureAWSClient`: the project's
 * clients are SDK v3, traced with `captureAWSv3Client`), the EC2, ECS and Elastic Beanstalk
 * plugins (host metadata, attached only through `AWSXRay.config([...])`) and the SQL data class
 * (for the separate MySQL/Postgres patchers): ~5 KB. Each resolves to a stand-in that throws a
 * named error if reached, and the build fails if project code names one of them, so nothing can
 * start using them unbundled (tests) and meet the stand-in only in Lambda.
 */
const XRAY_UNUSED_ON_LAMBDA: Readonly<Record<string, { names: string[]; stub: string }>> = {
  './patchers/aws_p': {
    names: ['captureAWS', 'captureAWSClient'],
    stub: 'module.exports = { captureAWS: notBundled, captureAWSClient: notBundled };',
  },
  './segments/plugins/ec2_plugin': {
    names: ['EC2Plugin'],
    stub: 'module.exports = { getData: notBundled };',
  },
  './segments/plugins/ecs_plugin': {
    names: ['ECSPlugin'],
    stub: 'module.exports = { getData: notBundled };',
  },
  './segments/plugins/elastic_beanstalk_plugin': {
    names: ['ElasticBeanstalkPlugin'],
    stub: 'module.exports = { getData: notBundled };',
  },
  './database/sql_data': {
    names: ['SqlData'],
    stub: 'module.exports = function SqlData() { notBundled(); };',
  },
};

export const xrayUnusedOnLambdaStub: Plugin = {
  name: 'xray-unused-on-lambda-stub',
  setup(build) {
    const specifiers = Object.keys(XRAY_UNUSED_ON_LAMBDA);
    build.onResolve({ filter: /^\.\/(patchers|segments\/plugins|database)\// }, (args) => {
      if (!specifiers.includes(args.path)) return undefined;
      if (!/[\\/]aws-xray-sdk-core[\\/]dist[\\/]lib[\\/]aws-xray\.js$/.test(args.importer)) {
        return undefined;
      }
      return { path: args.path, namespace: 'xray-unused-on-lambda-stub' };
    });
    build.onLoad({ filter: /.*/, namespace: 'xray-unused-on-lambda-stub' }, (args) => ({
      contents: [
        'const notBundled = () => {',
        `  throw new Error('aws-xray-sdk-core ${args.path} is not in this bundle (handler-bundle.ts, xrayUnusedOnLambdaStub)');`,
        '};',
        XRAY_UNUSED_ON_LAMBDA[args.path]?.stub ?? '',
      ].join('\n'),
      loader: 'js',
    }));
    const named = new RegExp(
      `\\b(${Object.values(XRAY_UNUSED_ON_LAMBDA)
        .flatMap(({ names }) => names)
        .join('|')})\\b`,
    );
    refuseProjectSourcesNaming(
      build,
      named,
      (name) =>
        `names the X-Ray SDK's ${name}, which the handler bundle leaves out (xrayUnusedOnLambdaStub)`,
    );
  },
};

/**
 * `@smithy/core`'s `HttpProtocol` loads its event-stream support with a dynamic
 * `import('@smithy/core/event-streams')`, called only for an operation whose input or output has an
 * event-stream member (`getEventStreamMember()`: a member with the `streaming` trait that is a
 * structure/union). esbuild bundles a dynamic import whole, so every bundle carried the event-stream
 * codec and serde (~15 KB) that no call of DynamoDB, SQS or Secrets Manager can reach: none of their
 * models has a `streaming` member. A client that has event-stream operations imports
 * `@smithy/core/event-streams` itself (its runtime config's `eventStreamSerdeProvider`, which
 * smithy's codegen adds only to such clients); the build fails then, so such a client never ships
 * beside this stub. The stub throws a named error if it is ever reached.
 */
export const smithyEventStreamsStub: Plugin = {
  name: 'smithy-event-streams-stub',
  setup(build) {
    build.onResolve({ filter: /^@smithy\/core\/event-streams$/ }, (args) => {
      if (
        /[\\/]@smithy[\\/]core[\\/]dist-es[\\/]submodules[\\/]protocols[\\/]HttpProtocol\.js$/.test(
          args.importer,
        )
      ) {
        return { path: args.importer, namespace: 'smithy-event-streams-stub' };
      }
      if (/[\\/]node_modules[\\/]@smithy[\\/]core[\\/]/.test(args.importer)) return undefined;
      return {
        errors: [
          {
            text: `${args.importer} imports @smithy/core/event-streams: a client with event-stream operations is bundled, and the handler bundle stubs HttpProtocol's event-stream support (smithyEventStreamsStub)`,
          },
        ],
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'smithy-event-streams-stub' }, () => ({
      contents: [
        'const notBundled = () => {',
        "  throw new Error('@smithy/core/event-streams is not in this bundle: no bundled client has an event-stream operation (handler-bundle.ts, smithyEventStreamsStub)');",
        '};',
        'export class EventStreamSerde { constructor() { notBundled(); } }',
        'export const eventStreamSerdeProvider = () => notBundled();',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

/**
 * CommonJS packages whose module body does nothing but build and assign `module.exports`, so a
 * bundle whose code uses none of their exports can leave them out. esbuild cannot know that of a
 * CommonJS module (its `import x from` becomes a `require` call it must keep) and these packages
 * do not declare `"sideEffects": false`; this declares it for them at resolution. A bundle that
 * uses an export still carries and runs the module as before.
 *
 * - `ipaddr.js` (~13 KB, UMD: its one top-level effect is `module.exports = ipaddr`): imported by
 *   the SSRF guard (`kernel/ssrf.ts`), which the tenants context's surface imports for provider
 *   credentials; every bundle that reaches the tenants surface carried it, most without a call.
 */
export const SIDE_EFFECT_FREE_COMMONJS = ['ipaddr.js'] as const;

export const sideEffectFreeCommonJs: Plugin = {
  name: 'side-effect-free-commonjs',
  setup(build) {
    const names = new Set<string>(SIDE_EFFECT_FREE_COMMONJS);
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (!names.has(args.path) || args.pluginData === 'side-effect-free-commonjs')
        return undefined;
      const resolved = await build.resolve(args.path, {
        importer: args.importer,
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: 'side-effect-free-commonjs',
      });
      if (resolved.errors.length) return { errors: resolved.errors };
      return { path: resolved.path, sideEffects: false };
    });
  },
};

/**
 * Each SDK client imports its whole `package.json` (`import packageInfo from "../package.json"`)
 * to read one field, `packageInfo.version` (the user agent's client version); a JSON default import
 * is one object esbuild must bundle whole, ~2.3 KB a client. For an ES module whose every use of a
 * default-imported `package.json` is a property read (`name.field`), this bundles the file with
 * those fields only. Any other use (the object passed on, spread, indexed) keeps the whole file.
 */
export const packageJsonFieldsRead: Plugin = {
  name: 'package-json-fields-read',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/(.*\/)?package\.json$/ }, async (args) => {
      if (args.kind !== 'import-statement' || !/\.m?js$/.test(args.importer)) return undefined;
      const source = await readFile(args.importer, 'utf8');
      const specifier = args.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const statement = new RegExp(`import (\\w+) from ["']${specifier}["'];?`);
      const name = statement.exec(source)?.[1];
      if (!name) return undefined;
      const rest = source.replace(statement, '');
      const uses = [...rest.matchAll(new RegExp(`(?<![\\w$.])${name}(?![\\w$])(\\.(\\w+))?`, 'g'))];
      if (uses.length === 0 || uses.some((use) => use[2] === undefined)) return undefined;
      const fields = [...new Set(uses.map((use) => use[2] as string))].sort();
      return {
        path: join(args.resolveDir, args.path),
        namespace: 'package-json-fields',
        // Part of the module's identity: importers reading other fields get their own copy.
        suffix: `?fields=${fields.join(',')}`,
        pluginData: fields,
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'package-json-fields' }, async (args) => {
      const whole = JSON.parse(await readFile(args.path, 'utf8')) as Record<string, unknown>;
      const fields = args.pluginData as string[];
      return {
        contents: JSON.stringify(Object.fromEntries(fields.map((field) => [field, whole[field]]))),
        loader: 'json',
      };
    });
  },
};

/** The module bundled in place of the SDK's full default credential chain. */
export const LAMBDA_CREDENTIALS = fileURLToPath(
  new URL('./lambda-credentials.ts', import.meta.url),
);

/** The esbuild options of a handler bundle: ESM, minified, tree-shaken, nothing external. */
export function handlerBuildOptions(input: HandlerBundleInput): BuildOptions {
  return {
    entryPoints: [input.entry],
    outfile: input.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: input.target,
    // Packages' ESM builds first: tree shaking works on ES modules only.
    mainFields: ['module', 'main'],
    banner: { js: CREATE_REQUIRE_BANNER },
    minify: true,
    treeShaking: true,
    sourcemap: input.sourcemap ?? true,
    // Stack traces need the mappings, not the sources' text: without it the map Node parses at
    // every cold start (NODE_OPTIONS=--enable-source-maps) is a third of the size.
    sourcesContent: false,
    metafile: input.metafile ?? false,
    // The SDK is bundled at the version the tests ran against: the Lambda runtime ships its own
    // @aws-sdk/* at a version of its choosing, not the 3.1162.0 pinned in package-lock.json.
    external: [],
    // Only the credential sources a Lambda function has (`lambda-credentials.ts`): ~95 KB less.
    alias: { '@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS },
    plugins: [
      zodEnglishLocaleOnly,
      powertoolsZodNamespaceImport,
      zodJsonSchemaStub,
      semverGteOnlyForXray,
      xrayWhitelistOfProjectServices,
      xrayLocalSamplerOnly,
      xrayUnusedOnLambdaStub,
      smithyEventStreamsStub,
      sideEffectFreeCommonJs,
      packageJsonFieldsRead,
      libphonenumberCountriesOnly,
    ],
    logLevel: 'silent',
  };
}
