/**
 * What the local runtime's gateway asks IAM, and how it answers: the permissions a call needs (one
 * per item of a transaction, one per table of a batch, the index ARN of an index query, a batch
 * send as a send) and the evaluation of identity-policy statements (wildcards, explicit deny).
 */
import { describe, expect, it } from 'vitest';
import { dynamodbPermissions, sqsPermissions } from '../../lib/local/aws-gateway.js';
import {
  isAllowed,
  type PolicyStatement,
  readStatement,
  UnsupportedPolicyError,
  wildcardMatch,
} from '../../lib/local/iam.js';

const table = (name: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${name}`;

describe('the permissions a call needs', () => {
  it('a transaction needs each item’s own action on its own table', () => {
    expect(
      dynamodbPermissions('TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: 'a' } },
          { Update: { TableName: 'b' } },
          { Delete: { TableName: 'c' } },
          { ConditionCheck: { TableName: 'd' } },
        ],
      }),
    ).toEqual([
      { action: 'dynamodb:PutItem', resource: table('a') },
      { action: 'dynamodb:UpdateItem', resource: table('b') },
      { action: 'dynamodb:DeleteItem', resource: table('c') },
      { action: 'dynamodb:ConditionCheckItem', resource: table('d') },
    ]);
    expect(
      dynamodbPermissions('TransactGetItems', { TransactItems: [{ Get: { TableName: 'a' } }] }),
    ).toEqual([{ action: 'dynamodb:GetItem', resource: table('a') }]);
  });

  it('a batch needs the batch action on every table it names', () => {
    expect(dynamodbPermissions('BatchGetItem', { RequestItems: { a: {}, b: {} } })).toEqual([
      { action: 'dynamodb:BatchGetItem', resource: table('a') },
      { action: 'dynamodb:BatchGetItem', resource: table('b') },
    ]);
  });

  it('a query of an index needs the index ARN; a table named by ARN is that ARN', () => {
    expect(dynamodbPermissions('Query', { TableName: 'a', IndexName: 'gsi1' })).toEqual([
      { action: 'dynamodb:Query', resource: `${table('a')}/index/gsi1` },
    ]);
    expect(dynamodbPermissions('GetItem', { TableName: table('a') })).toEqual([
      { action: 'dynamodb:GetItem', resource: table('a') },
    ]);
  });

  it('an SQS batch send is authorized as a send, on the queue its URL names', () => {
    expect(
      sqsPermissions('SendMessageBatch', {
        QueueUrl: 'http://127.0.0.1:1234/000000000000/onceflow-jobs.fifo',
      }),
    ).toEqual([
      {
        action: 'sqs:SendMessage',
        resource: 'arn:aws:sqs:us-east-1:000000000000:onceflow-jobs.fifo',
      },
    ]);
    expect(sqsPermissions('GetQueueUrl', { QueueName: 'q.fifo' })).toEqual([
      { action: 'sqs:GetQueueUrl', resource: 'arn:aws:sqs:us-east-1:000000000000:q.fifo' },
    ]);
  });
});

describe('identity-policy evaluation', () => {
  const readOnly: PolicyStatement = {
    effect: 'Allow',
    actions: ['dynamodb:GetItem', 'dynamodb:Query'],
    resources: [table('a'), `${table('a')}/index/*`],
  };

  it('allows only the listed actions, on the listed resources (indexes through `/index/*`)', () => {
    expect(isAllowed([readOnly], { action: 'dynamodb:GetItem', resource: table('a') })).toBe(true);
    expect(
      isAllowed([readOnly], { action: 'dynamodb:Query', resource: `${table('a')}/index/gsi1` }),
    ).toBe(true);
    expect(isAllowed([readOnly], { action: 'dynamodb:PutItem', resource: table('a') })).toBe(false);
    expect(isAllowed([readOnly], { action: 'dynamodb:GetItem', resource: table('ab') })).toBe(
      false,
    );
    expect(isAllowed([], { action: 'dynamodb:GetItem', resource: table('a') })).toBe(false);
  });

  it('matches actions without regard to case and resources with it; `*` and `?` are wildcards', () => {
    expect(wildcardMatch('dynamodb:get*', 'dynamodb:GetItem', true)).toBe(true);
    expect(wildcardMatch('arn:aws:sqs:*:*:jobs.fifo', 'arn:aws:sqs:us-east-1:0:JOBS.fifo')).toBe(
      false,
    );
    expect(wildcardMatch('table/t?', 'table/t1')).toBe(true);
    expect(wildcardMatch('table/t?', 'table/t12')).toBe(false);
    expect(wildcardMatch('table/t.x', 'table/tax')).toBe(false);
  });

  it('an explicit deny wins over any allow', () => {
    const deny: PolicyStatement = { effect: 'Deny', actions: ['dynamodb:*'], resources: ['*'] };
    expect(isAllowed([readOnly, deny], { action: 'dynamodb:GetItem', resource: table('a') })).toBe(
      false,
    );
  });

  it('refuses to read what it cannot evaluate, rather than guess', () => {
    expect(() =>
      readStatement(
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*', Condition: {} },
        'probe',
      ),
    ).toThrow(UnsupportedPolicyError);
    expect(readStatement({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'x' }, 'p')).toEqual({
      effect: 'Allow',
      actions: ['s3:GetObject'],
      resources: ['x'],
    });
  });
});
