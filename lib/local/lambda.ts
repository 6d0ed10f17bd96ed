/**
 * What a Lambda execution environment gives a handler, reproduced in one process: the module
 * loaded by path (lazily, so a missing handler fails only its own trigger), a `Context`, and the
 * function timeout.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './resources.js';

export type LambdaHandler = (event: unknown, context: Context, callback?: unknown) => unknown;

/** What the runtime needs to invoke one manifest function. */
export interface LocalFunction {
  /** Manifest key, e.g. `putTenant`. */
  readonly name: string;
  /** Handler module relative to the project root. */
  readonly entry: string;
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** @default 512 */
  readonly memoryMb?: number;
}

export class HandlerLoadError extends Error {
  override name = 'HandlerLoadError';
}

export class LambdaTimeoutError extends Error {
  override name = 'LambdaTimeoutError';
  constructor(
    readonly functionName: string,
    readonly timeoutMs: number,
  ) {
    super(`${functionName} timed out after ${timeoutMs} ms`);
  }
}

export interface HandlerLoader {
  load(fn: Pick<LocalFunction, 'name' | 'entry'>): Promise<LambdaHandler>;
  /** Imports every entry once (so their failpoints are declared); failures are logged, not thrown. */
  preload(fns: ReadonlyArray<Pick<LocalFunction, 'name' | 'entry'>>): Promise<void>;
}

/**
 * Loads handler modules from `projectRoot`. Successes are cached; failures are not, so a handler
 * file written while the runtime runs is picked up by its next request. Each failing entry is
 * logged once until it loads.
 */
export function createHandlerLoader(options: {
  readonly projectRoot: string;
  readonly log: (line: string) => void;
}): HandlerLoader {
  const loaded = new Map<string, LambdaHandler>();
  const reported = new Set<string>();

  async function load(fn: Pick<LocalFunction, 'name' | 'entry'>): Promise<LambdaHandler> {
    const cached = loaded.get(fn.entry);
    if (cached) return cached;
    try {
      const url = pathToFileURL(resolve(options.projectRoot, fn.entry)).href;
      const module = (await import(url)) as { handler?: unknown };
      if (typeof module.handler !== 'function') {
        throw new HandlerLoadError(`${fn.entry} does not export a handler function`);
      }
      const handler = module.handler as LambdaHandler;
      loaded.set(fn.entry, handler);
      reported.delete(fn.entry);
      return handler;
    } catch (error) {
      if (!reported.has(fn.entry)) {
        reported.add(fn.entry);
        options.log(`[runtime] cannot load ${fn.name} from ${fn.entry}: ${describeError(error)}`);
      }
      throw error instanceof HandlerLoadError
        ? error
        : new HandlerLoadError(`cannot load ${fn.entry}: ${describeError(error)}`, {
            cause: error,
          });
    }
  }

  return {
    load,
    async preload(fns) {
      // A module that throws a ConfigurationError at import refuses the settings: the runtime must
      // not start (and print ready) with it. Other load failures are logged and retried per request.
      await Promise.all(
        fns.map((fn) =>
          load(fn).catch((error: unknown) => {
            const refused = configurationError(error);
            if (refused) throw refused;
          }),
        ),
      );
    },
  };
}

/** The ConfigurationError a load failed with (itself or as the cause), if any. */
function configurationError(error: unknown): Error | undefined {
  const cause = error instanceof Error && 'cause' in error ? error.cause : undefined;
  return [error, cause].find(
    (e): e is Error => e instanceof Error && e.name === 'ConfigurationError',
  );
}

export function physicalFunctionName(name: string): string {
  return `onceflow-${name}`;
}

export function createLambdaContext(fn: LocalFunction, startedAt = Date.now()): Context {
  const functionName = physicalFunctionName(fn.name);
  const timeoutMs = (fn.timeoutSeconds ?? 10) * 1000;
  const awsRequestId = randomUUID();
  const day = new Date(startedAt).toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = () => {
    throw new Error('context.done/fail/succeed are not supported: return or throw instead');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: String(fn.memoryMb ?? 512),
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${awsRequestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, startedAt + timeoutMs - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Invokes a handler as Lambda would: async result, or a callback for three-argument handlers; a
 * run past the function timeout rejects with `LambdaTimeoutError` (the handler itself cannot be
 * frozen in one process and finishes in the background, as if the sandbox were reused).
 */
export async function invokeHandler(
  handler: LambdaHandler,
  event: unknown,
  fn: LocalFunction,
): Promise<unknown> {
  const context = createLambdaContext(fn);
  const timeoutMs = (fn.timeoutSeconds ?? 10) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LambdaTimeoutError(fn.name, timeoutMs)), timeoutMs);
  });
  const run = new Promise<unknown>((resolveRun, rejectRun) => {
    const callback = (error: unknown, result: unknown) =>
      error ? rejectRun(error) : resolveRun(result);
    try {
      const returned = handler(event, context, callback);
      if (handler.length < 3 || isPromiseLike(returned)) {
        Promise.resolve(returned).then(resolveRun, rejectRun);
      }
    } catch (error) {
      rejectRun(error);
    }
  });
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/** One line: error name and message, never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.split('\n')[0]}`;
  return String(error);
}
