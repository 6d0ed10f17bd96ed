/**
 * AWS SDK clients, created once per execution environment and traced.
 * Endpoints come from the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS` variables,
 * which the local runtime points at DynamoDB Local and the SQS emulator.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from './telemetry.js';

// Building a client calls nothing outside it (the SDK resolves configuration and credentials at the
// first send), so each is marked `@__PURE__`: a bundle whose handler never sends to SQS drops the
// SQS client and its protocol code instead of building one at every cold start.
export const dynamodbClient = /* @__PURE__ */ tracer.captureAWSv3Client(
  /* @__PURE__ */ new DynamoDBClient({}),
);

export const ddb = /* @__PURE__ */ DynamoDBDocumentClient.from(dynamodbClient, {
  marshallOptions: { removeUndefinedValues: true },
});

export const sqs = /* @__PURE__ */ tracer.captureAWSv3Client(/* @__PURE__ */ new SQSClient({}));
