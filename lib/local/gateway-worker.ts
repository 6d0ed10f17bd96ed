/**
 * The AWS gateway (`aws-gateway.ts`) in a worker thread of its own, as AWS's edge is not the
 * runtime's: every SDK call of every function passes through it, twice per call (request and
 * answer), and on the runtime's thread it would wait behind the API adapter, the queue pollers and
 * the SQS emulator. A call's latency matters: the token bucket drops a token whose answer comes
 * after its 100 ms window (`functions/kernel/token-bucket.ts`).
 *
 * It is bundled with the function worker (`function-build.ts`) and runs without tsx.
 */
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type AwsCall,
  type AwsCallObserver,
  createAwsGateway,
  type GatewayPrincipal,
} from './aws-gateway.js';
import { listen } from './http-util.js';

export interface GatewayWorkerData {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly principals: readonly GatewayPrincipal[];
  /** Each secret with its local value, read once by the runtime when it starts. */
  readonly secrets: ReadonlyArray<{ name: string; arn: string; value: string }>;
  readonly port: number;
}

/** What the runtime tells the gateway: report calls (with what DynamoDB capacity), or stop. */
export type GatewayCommand =
  | { readonly type: 'observe'; readonly consumedCapacity?: 'TOTAL' | 'INDEXES' }
  | { readonly type: 'unobserve' };

/** What the gateway tells the runtime. */
export type GatewayMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'call'; readonly call: AwsCall };

async function main(port: NonNullable<typeof parentPort>, data: GatewayWorkerData): Promise<void> {
  const send = (message: GatewayMessage) => port.postMessage(message);
  const gateway = createAwsGateway({
    dynamodbEndpoint: data.dynamodbEndpoint,
    sqsEndpoint: data.sqsEndpoint,
    principals: data.principals,
    secrets: data.secrets.map((secret) => ({ ...secret, value: () => secret.value })),
    log: (line) => send({ type: 'log', line }),
  });
  let unobserve: (() => void) | undefined;
  port.on('message', (command: GatewayCommand) => {
    unobserve?.();
    unobserve = undefined;
    if (command.type !== 'observe') return;
    const observer: AwsCallObserver = {
      ...(command.consumedCapacity ? { consumedCapacity: command.consumedCapacity } : {}),
      observe: (call) => send({ type: 'call', call }),
    };
    unobserve = gateway.observe(observer);
  });
  await listen(gateway.server, data.port, '127.0.0.1');
  send({ type: 'listening', port: (gateway.server.address() as AddressInfo).port });
}

if (parentPort) void main(parentPort, workerData as GatewayWorkerData);
