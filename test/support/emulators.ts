/** SDK clients on the integration project's emulators (use inside integration tests only). */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { localDynamoDbClient, localSqsClient } from '../../lib/local/provision.js';

export function emulatorEndpoints(): { dynamodb: string; sqs: string } {
  return inject('onceflowEndpoints');
}

export function testDynamoDbClient(): DynamoDBClient {
  return localDynamoDbClient(emulatorEndpoints().dynamodb);
}

export function testSqsClient(): SQSClient {
  return localSqsClient(emulatorEndpoints().sqs);
}
