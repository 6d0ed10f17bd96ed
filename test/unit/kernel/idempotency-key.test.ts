/**
 * The contract's two 409s for a reused `Idempotency-Key`, as `withIdempotencyKey` answers them when
 * Powertools Idempotency finds the key's record already written. The record is the one DynamoDB
 * returns with a failed conditional put (`ReturnValuesOnConditionCheckFailure: ALL_OLD`); the
 * client's `send` is stubbed for that answer, no network. The integration tests
 * (`test/integration/kernel/idempotency-key.test.ts`) show the same against DynamoDB Local.
 */
import { ConditionalCheckFailedException, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dynamodbClient } from '../../../functions/kernel/clients.js';
import { ConflictError } from '../../../functions/kernel/errors.js';
import type { HttpRequest } from '../../../functions/kernel/http.js';
import { withIdempotencyKey } from '../../../functions/kernel/idempotency-key.js';
import { envNameForTable } from '../../../functions/kernel/resource-names.js';

function request(body: string): HttpRequest {
  return {
    method: 'POST',
    routeKey: 'POST /things',
    path: '/things',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'key-1' },
    pathParameters: {},
    query: {},
    rawBody: body,
    lambdaContext: { getRemainingTimeInMillis: () => 30_000 },
  } as unknown as HttpRequest;
}

/** The put of the in-progress record fails; the stored record is `stored(sentItem)`. */
function existingRecord(stored: (sent: Record<string, unknown>) => Record<string, unknown>) {
  return vi.spyOn(dynamodbClient, 'send').mockImplementation(async (command: unknown) => {
    if (!(command instanceof PutItemCommand)) throw new Error('unexpected command');
    throw new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
      Item: stored(command.input.Item as Record<string, unknown>) as never,
    });
  });
}

describe('withIdempotencyKey', () => {
  beforeEach(() => vi.stubEnv(envNameForTable('idempotency'), 'idempotency'));
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('answers 409 idempotency_key_mismatch when the key was used with another body', async () => {
    // Prepare: the key's record is complete, for another body (another payload hash).
    existingRecord((sent) => ({
      ...sent,
      status: { S: 'COMPLETED' },
      validation: { S: 'the hash of another body' },
      data: { M: {} },
    }));
    const run = vi.fn();

    // Act
    const answer = withIdempotencyKey(request('{"name":"b"}'), 't-1', run);

    // Assess
    await expect(answer).rejects.toBeInstanceOf(ConflictError);
    await expect(answer).rejects.toMatchObject({
      status: 409,
      code: 'idempotency_key_mismatch',
      message: 'This Idempotency-Key was used with a different request body.',
    });
    expect(run).not.toHaveBeenCalled();
  });

  it('answers 409 request_in_progress while the first request with the key runs', async () => {
    // Prepare: the key's record is the same body's, still in progress for another minute.
    existingRecord((sent) => ({
      ...sent,
      in_progress_expiration: { N: String(Date.now() + 60_000) },
    }));
    const run = vi.fn();

    // Act
    const answer = withIdempotencyKey(request('{"name":"a"}'), 't-1', run);

    // Assess
    await expect(answer).rejects.toMatchObject({
      status: 409,
      code: 'request_in_progress',
      message: 'A request with this Idempotency-Key is still being processed; retry shortly.',
    });
    expect(run).not.toHaveBeenCalled();
  });

  it('lets the route’s own errors through unchanged', async () => {
    // Prepare: the key is new; the route refuses the request.
    vi.spyOn(dynamodbClient, 'send').mockImplementation(async () => ({}));
    const refusal = new ConflictError('taken', 'name_taken');

    // Act
    const answer = withIdempotencyKey(request('{"name":"c"}'), 't-1', async () => {
      throw refusal;
    });

    // Assess
    await expect(answer).rejects.toBe(refusal);
  });
});
