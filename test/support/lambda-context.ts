import type { Context } from 'aws-lambda';
import { createLambdaContext } from '../../lib/local/lambda.js';

/**
 * The one fake Lambda context of the tests: the local runtime's own (`createLambdaContext`, every
 * field Lambda's Node.js runtime gives a handler), with a fixed name, request id and time left (a
 * number, or a function for a test whose invocation runs out of time) so tests can assert on them.
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
  const context = createLambdaContext({ name: functionName, entry: '(test)' });
  return {
    ...context,
    functionName,
    invokedFunctionArn: context.invokedFunctionArn.replace(/[^:]+$/, functionName),
    awsRequestId: overrides.awsRequestId ?? 'req',
    logGroupName: `/aws/lambda/${functionName}`,
    getRemainingTimeInMillis: typeof remaining === 'function' ? remaining : () => remaining,
  };
}
