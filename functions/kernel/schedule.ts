/**
 * The Lambda handler shape of every EventBridge Scheduler trigger: middy with Powertools Logger and
 * Tracer, and the work run as `schedule:<name>` in the telemetry context.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, tracer, withInvocation } from './telemetry.js';

export function scheduledHandler<T>(name: string, run: () => Promise<T>) {
  return middy((_event: unknown, context: Context) =>
    withInvocation(`schedule:${name}`, context, run),
  )
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer));
}
