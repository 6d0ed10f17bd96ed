/**
 * AWS SDK clients, created once per execution environment and traced.
 * Endpoints come from the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS` variables,
 * which the local runtime points at DynamoDB Local and the SQS emulator.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from './telemetry.js';

export const dynamodbClient = tracer.captureAWSv3Client(new DynamoDBClient({}));

export const ddb = DynamoDBDocumentClient.from(dynamodbClient, {
  marshallOptions: { removeUndefinedValues: true },
});

export const sqs = tracer.captureAWSv3Client(new SQSClient({}));
