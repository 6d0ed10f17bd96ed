/**
 * `logMetrics` on every handler kind: the invocation's metrics leave as one EMF blob flushed by the
 * middleware (dimensioned by the invocation's source), and the first invocation emits `ColdStart`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeLambdaContext } from '../../support/lambda-context.js';

// Lambda sets this in an on-demand environment; Powertools reports a cold start only then. Set
// before the kernel's telemetry module (and its Metrics instance) is loaded.
process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
const { scheduledHandler } = await import('../../../functions/kernel/schedule.js');
const { countMetric } = await import('../../../functions/kernel/telemetry.js');

const context = fakeLambdaContext({
  functionName: 'test-fn',
  awsRequestId: 'req-1',
  remainingMs: 10_000,
});

function emfLines(spy: { mock: { calls: unknown[][] } }): Array<Record<string, unknown>> {
  return spy.mock.calls
    .flatMap((call) => String(call[0]).split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('edge metrics', () => {
  it('flushes the invocation metrics in one blob with its source, and a ColdStart metric once', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const handler = scheduledHandler('metrics-test', async () => {
      countMetric('WidgetsMade', 2);
      countMetric('WidgetsShipped');
    });
    await handler({}, context);
    await handler({}, context);
    const blobs = [...emfLines(out), ...emfLines(log)];
    const withWidgets = blobs.filter((b) => 'WidgetsMade' in b);
    expect(withWidgets).toHaveLength(2);
    for (const blob of withWidgets) {
      expect(blob).toMatchObject({
        WidgetsMade: 2,
        WidgetsShipped: 1,
        source: 'schedule:metrics-test',
      });
    }
    const coldStarts = blobs.filter((b) => 'ColdStart' in b);
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]).toMatchObject({ ColdStart: 1, function_name: 'test-fn' });
  });
});
