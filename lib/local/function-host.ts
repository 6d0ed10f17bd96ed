/**
 * Runs every function in a worker thread of its own, as Lambda runs each in its own execution
 * environment: with only the environment variables its template resource has (plus the local
 * overlay, `environment.ts`), its own copy of every module (no state shared with other functions),
 * and a heap capped at its memory size. A worker that crashes (an uncaught error, out of memory)
 * fails the invocations it was running and is started again at the next one, as Lambda replaces a
 * broken environment.
 *
 * It implements `HandlerLoader`, so the API adapter, the queue pollers and the scheduler invoke a
 * function the same way whichever way it runs.
 */
import { Worker } from 'node:worker_threads';
import type { ArmMessage, RuntimeControl } from './function-control.js';
import type {
  FunctionWorkerData,
  InvokeMessage,
  SerializedError,
  WorkerMessage,
} from './function-worker.js';
import {
  HandlerLoadError,
  type HandlerLoader,
  type LambdaHandler,
  type LocalFunction,
} from './lambda.js';

export interface HostedFunction {
  readonly fn: LocalFunction;
  /** file: URL of the module exporting `handler` (bundle or development build). */
  readonly moduleUrl: string;
  /** The whole `process.env` the function sees. */
  readonly env: Readonly<Record<string, string>>;
  /** Node options of the worker (from the function's `NODE_OPTIONS`, and source maps in development). */
  readonly execArgv: readonly string[];
}

export interface FunctionHostOptions {
  /** The bundled `function-worker.ts`. */
  readonly workerFile: string;
  readonly functions: readonly HostedFunction[];
  readonly control: RuntimeControl;
  readonly log: (line: string) => void;
}

export interface FunctionHost extends HandlerLoader {
  /** Sends a message to every running worker (failpoint armings). */
  broadcast(message: ArmMessage): void;
  /** Terminates every worker. */
  stop(): Promise<void>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface RunningWorker {
  readonly worker: Worker;
  /** Resolves once the module loaded; rejects with its load error. */
  readonly loaded: Promise<void>;
  readonly pending: Map<number, Pending>;
}

function deserializeError(error: SerializedError): Error {
  return Object.assign(new Error(error.message), {
    name: error.name,
    ...(error.stack ? { stack: error.stack } : {}),
  });
}

export function createFunctionHost(options: FunctionHostOptions): FunctionHost {
  const byName = new Map(options.functions.map((hosted) => [hosted.fn.name, hosted]));
  const running = new Map<string, RunningWorker>();
  const reported = new Set<string>();
  let nextId = 1;
  let stopped = false;

  function start(hosted: HostedFunction): RunningWorker {
    const data: FunctionWorkerData = {
      fn: hosted.fn,
      moduleUrl: hosted.moduleUrl,
      control: options.control.buffers,
      armed: options.control.armedTable(),
    };
    const worker = new Worker(options.workerFile, {
      workerData: data,
      env: { ...hosted.env },
      execArgv: [...hosted.execArgv],
      // Lambda's memory size caps the environment; here it caps the worker's heap.
      resourceLimits: { maxOldGenerationSizeMb: hosted.fn.memoryMb ?? 512 },
      name: hosted.fn.name,
      // Forwarded by hand to whatever `process.stdout.write` is when a chunk arrives (the local
      // dashboard's tap, `npm start`'s log file), as Lambda sends a function's output to its logs.
      stdout: true,
      stderr: true,
    });
    worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    worker.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const pending = new Map<number, Pending>();
    let settleLoad: { resolve(): void; reject(error: Error): void } | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      settleLoad = { resolve, reject };
    });
    // Awaited by whoever invokes; a failed load must not count as unhandled meanwhile.
    loaded.catch(() => {});
    const entry: RunningWorker = { worker, loaded, pending };

    const fail = (error: Error) => {
      if (running.get(hosted.fn.name) === entry) running.delete(hosted.fn.name);
      settleLoad?.reject(error);
      for (const call of pending.values()) call.reject(error);
      pending.clear();
    };
    worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'declare':
          options.control.declared(message);
          return;
        case 'loaded':
          reported.delete(hosted.fn.name);
          settleLoad?.resolve();
          return;
        case 'load-failed': {
          const error = deserializeError(message.error);
          if (!reported.has(hosted.fn.name)) {
            reported.add(hosted.fn.name);
            options.log(
              `[runtime] cannot load ${hosted.fn.name} from ${hosted.fn.entry}: ${error.name}: ${error.message.split('\n')[0]}`,
            );
          }
          fail(
            error.name === 'ConfigurationError'
              ? error
              : new HandlerLoadError(`cannot load ${hosted.fn.entry}: ${error.message}`, {
                  cause: error,
                }),
          );
          void worker.terminate();
          return;
        }
        case 'result':
          pending.get(message.id)?.resolve(message.value);
          pending.delete(message.id);
          return;
        case 'failed':
          pending.get(message.id)?.reject(deserializeError(message.error));
          pending.delete(message.id);
          return;
      }
    });
    worker.on('error', (error) => {
      if (!stopped)
        options.log(`[runtime] ${hosted.fn.name} crashed: ${error.name}: ${error.message}`);
      fail(error);
    });
    worker.on('exit', (code) => {
      fail(new Error(`${hosted.fn.name}'s environment exited (code ${code})`));
    });
    running.set(hosted.fn.name, entry);
    return entry;
  }

  function environmentOf(name: string): RunningWorker {
    const hosted = byName.get(name);
    if (!hosted) throw new HandlerLoadError(`no function named ${name} runs here`);
    return running.get(name) ?? start(hosted);
  }

  async function load(fn: Pick<LocalFunction, 'name' | 'entry'>): Promise<LambdaHandler> {
    await environmentOf(fn.name).loaded;
    // Two arguments: `invokeHandler` awaits its promise (the context stays in the worker).
    return (event: unknown) => invoke(fn.name, event);
  }

  async function invoke(name: string, event: unknown): Promise<unknown> {
    if (stopped) throw new Error('the local runtime is stopping');
    const environment = environmentOf(name);
    await environment.loaded;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      environment.pending.set(id, { resolve, reject });
      const message: InvokeMessage = { type: 'invoke', id, event };
      environment.worker.postMessage(message);
    });
  }

  return {
    load,
    async preload(fns) {
      // A module that throws a ConfigurationError at import refuses the settings: the runtime must
      // not start (and print ready) with it. Other load failures are logged and retried per request.
      await Promise.all(
        fns.map((fn) =>
          environmentOf(fn.name).loaded.catch((error: unknown) => {
            if (error instanceof Error && error.name === 'ConfigurationError') throw error;
          }),
        ),
      );
    },
    broadcast(message) {
      for (const environment of running.values()) environment.worker.postMessage(message);
    },
    async stop() {
      stopped = true;
      await Promise.all([...running.values()].map((environment) => environment.worker.terminate()));
      running.clear();
    },
  };
}
