import type { Context } from 'aws-lambda';

/**
 * The one fake Lambda context of the tests: every field Lambda's Node.js runtime gives a handler
 * (the ones middy, Powertools and the kernel read), with a name, a request id and the time left
 * (a number, or a function for a test whose invocation runs out of time) to override.
 */
export function fakeLambdaContext(
  overrides: {
    readonly functionName?: string;
    readonly awsRequestId?: string;
    readonly remainingMs?: number | (() => number);
  } = {},
): Context {
  const functionName = overrides.functionName ?? 'test';
  const remaining = overrides.remainingMs ?? 30_000;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: overrides.awsRequestId ?? 'req',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: typeof remaining === 'function' ? remaining : () => remaining,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
