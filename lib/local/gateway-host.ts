/**
 * Starts the AWS gateway in its worker thread (`gateway-worker.ts`) and relays what it reports: its
 * log lines, and the calls observers asked for (benches that count what work costs).
 */
import { Worker } from 'node:worker_threads';
import type { AwsCallObserver } from './aws-gateway.js';
import type { GatewayCommand, GatewayMessage, GatewayWorkerData } from './gateway-worker.js';

export interface GatewayHost {
  /** The gateway's origin: every function's AWS endpoint. */
  readonly url: string;
  /** Reports every call from now on to `observer`; returns the unsubscribe. */
  observe(observer: AwsCallObserver): () => void;
  stop(): Promise<void>;
}

export async function startGatewayWorker(options: {
  /** The bundled `gateway-worker.ts`. */
  readonly workerFile: string;
  readonly data: GatewayWorkerData;
  readonly log: (line: string) => void;
}): Promise<GatewayHost> {
  const worker = new Worker(options.workerFile, { workerData: options.data, name: 'aws-gateway' });
  const observers = new Set<AwsCallObserver>();
  const command = (message: GatewayCommand) => worker.postMessage(message);
  const listening = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: GatewayMessage) => {
      if (message.type === 'listening') resolve(message.port);
      else if (message.type === 'log') options.log(message.line);
      else for (const observer of observers) observer.observe(message.call);
    });
    worker.once('exit', (code) => reject(new Error(`the AWS gateway exited (code ${code})`)));
  });
  const port = await listening.catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  const retell = () => {
    if (observers.size === 0) {
      command({ type: 'unobserve' });
      return;
    }
    const levels = [...observers].map((o) => o.consumedCapacity);
    const consumedCapacity = levels.includes('INDEXES')
      ? 'INDEXES'
      : levels.includes('TOTAL')
        ? 'TOTAL'
        : undefined;
    command({ type: 'observe', ...(consumedCapacity ? { consumedCapacity } : {}) });
  };
  return {
    url: `http://127.0.0.1:${port}`,
    observe(observer) {
      observers.add(observer);
      retell();
      return () => {
        observers.delete(observer);
        retell();
      };
    },
    async stop() {
      await worker.terminate();
    },
  };
}
