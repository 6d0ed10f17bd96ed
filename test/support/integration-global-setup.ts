/**
 * Integration project global setup: starts DynamoDB Local (in memory) and the SQS emulator once
 * on free ports, provisions every manifest table and queue, and hands the environment to the test
 * files (`integration-env.ts` applies it to `process.env`; tests can also `inject('onceflowEnv')`).
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.js';
import { localEnvironment } from '../../lib/local/environment.js';
import { freePort } from '../../lib/local/ports.js';
import { provision } from '../../lib/local/provision.js';
import { startSqsEmulator } from '../../lib/local/sqs-emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Everything handlers need: endpoints, region, dummy credentials, table names, queue URLs. */
    onceflowEnv: Record<string, string>;
    onceflowEndpoints: { dynamodb: string; sqs: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Node 20 is the project's runtime; the SDK's upgrade notice is noise in test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [dynamodb, sqs] = await Promise.all([
    freePort().then((port) => startDynamoDbLocal({ port, dbPath: null })),
    startSqsEmulator({ port: 0 }),
  ]);
  try {
    const provisioned = await provision({
      dynamodbEndpoint: dynamodb.endpoint,
      sqsEndpoint: sqs.endpoint,
    });
    project.provide('onceflowEnv', {
      ...localEnvironment({ dynamodbEndpoint: dynamodb.endpoint, sqsEndpoint: sqs.endpoint }),
      ...provisioned,
    });
    project.provide('onceflowEndpoints', { dynamodb: dynamodb.endpoint, sqs: sqs.endpoint });
  } catch (error) {
    await Promise.all([dynamodb.stop(), sqs.stop()]);
    throw error;
  }
  return async () => {
    await Promise.all([dynamodb.stop(), sqs.stop()]);
  };
}
