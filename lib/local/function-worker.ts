/**
 * One function's execution environment: the code a worker thread runs (`function-host.ts` starts
 * it with the function's own `process.env`). It installs the runtime's clock and failpoints
 * (`function-control.ts`), imports the function's module — its bundle, or its development build —
 * and invokes its `handler` for every `invoke` message, as Lambda's runtime would: concurrent
 * invocations overlap here (one environment serves them all), each with its own context.
 *
 * It is itself bundled (`function-build.ts`) and runs without tsx, so it imports nothing the
 * function's own module would share: the kernel it installs into is reached only through
 * `globalThis`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ArmedTable, ArmMessage, ControlBuffers } from './function-control.js';
import { installWorkerControl } from './function-control.js';
import { describeError, invokeHandler, type LambdaHandler, type LocalFunction } from './lambda.js';

export interface FunctionWorkerData {
  readonly fn: LocalFunction;
  /** file: URL of the module exporting `handler`. */
  readonly moduleUrl: string;
  readonly control: ControlBuffers;
  readonly armed: ArmedTable;
}

export interface InvokeMessage {
  readonly type: 'invoke';
  readonly id: number;
  readonly event: unknown;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** What a worker tells the runtime. */
export type WorkerMessage =
  | { readonly type: 'declare'; readonly points: ReadonlyArray<readonly [string, string]> }
  | { readonly type: 'loaded' }
  | { readonly type: 'load-failed'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? error.cause : undefined;
    // A ConfigurationError that broke the import is the cause of the import's own error.
    const shown = cause?.name === 'ConfigurationError' ? cause : error;
    return {
      name: shown.name,
      message: shown.message,
      ...(shown.stack ? { stack: shown.stack } : {}),
    };
  }
  return { name: 'Error', message: describeError(error) };
}

async function main(port: NonNullable<typeof parentPort>, data: FunctionWorkerData): Promise<void> {
  const send = (message: WorkerMessage) => port.postMessage(message);
  const control = installWorkerControl(data.control, data.armed, (message) => send(message));
  let handler: LambdaHandler | undefined;
  const waiting: InvokeMessage[] = [];

  const invoke = (message: InvokeMessage, fn: LambdaHandler) => {
    invokeHandler(fn, message.event, data.fn).then(
      (value) => send({ type: 'result', id: message.id, value }),
      (error: unknown) => send({ type: 'failed', id: message.id, error: serializeError(error) }),
    );
  };

  port.on('message', (message: InvokeMessage | ArmMessage) => {
    if (message.type === 'arm') control.update(message);
    else if (handler) invoke(message, handler);
    else waiting.push(message);
  });

  try {
    const module = (await import(data.moduleUrl)) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      throw new Error(`${data.fn.entry} does not export a handler function`);
    }
    handler = module.handler as LambdaHandler;
  } catch (error) {
    send({ type: 'load-failed', error: serializeError(error) });
    return;
  }
  send({ type: 'loaded' });
  for (const message of waiting.splice(0)) invoke(message, handler);
}

if (parentPort) void main(parentPort, workerData as FunctionWorkerData);
