/**
 * The Lambda handler shape of every EventBridge Scheduler trigger: middy with Powertools Logger,
 * Tracer and Metrics (`edge-middleware.ts`), and the work run as `schedule:<name>` in the telemetry context.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { withEdgeMiddleware } from './edge-middleware.js';
import { withInvocation } from './telemetry.js';

export function scheduledHandler<T>(name: string, run: () => Promise<T>) {
  return withEdgeMiddleware(
    middy((_event: unknown, context: Context) => withInvocation(`schedule:${name}`, context, run)),
  );
}
