/**
 * The Powertools middlewares every handler kind (http, queue, schedule) wears, in one place:
 * Logger with the Lambda context, Tracer around the invocation, and `logMetrics`, which flushes
 * the invocation's metrics once at the end and emits the `ColdStart` metric.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type middy from '@middy/core';
import { logger, metrics, tracer } from './telemetry.js';

// biome-ignore lint/suspicious/noExplicitAny: middy's handler type parameters vary per trigger
export function withEdgeMiddleware<H extends middy.MiddyfiedHandler<any, any, any, any>>(
  handler: H,
): H {
  return handler
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics, { captureColdStartMetric: true })) as H;
}
