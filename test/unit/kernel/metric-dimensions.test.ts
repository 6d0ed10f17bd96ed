/**
 * One place adds the `source` dimension, so a metric's dimension set is what the catalogue says,
 * the same on AWS (one invocation at a time: metrics batched per invocation and flushed by
 * `logMetrics`) as in the local runtime (invocations overlap: a single EMF line per metric), and
 * Powertools never warns that a dimension was added twice: those WARN lines would be one or two
 * log lines per metric, paid for in log ingestion at hundreds of sends a second.
 */
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { queueConsumer } from '../../../functions/kernel/queue-consumer.js';
import { scheduledHandler } from '../../../functions/kernel/schedule.js';
import { countMetric, logger, withTelemetrySource } from '../../../functions/kernel/telemetry.js';
import { datapointsOf, dimensionSet } from '../../support/cloudwatch.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';

// The unit project silences logs (vitest.config.ts), and the logger returns to its initial level at
// every warm invocation: this file reads Powertools' warnings, so the level is set before the
// kernel's logger is created.
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});

const context = fakeLambdaContext({ functionName: 'fn' });

function record(id: string, body: unknown): SQSRecord {
  return {
    messageId: id,
    receiptHandle: id,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'x',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: 'g',
      MessageDeduplicationId: id,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:onceflow-jobs.fifo',
    awsRegion: 'us-east-1',
  };
}

// A consumer whose records count a metric under the queue's source, and one under a narrowed
// source (a job type), as the jobs consumer does.
const consumer = queueConsumer({
  queue: 'jobs',
  schema: z.object({ n: z.number() }),
  handle: async ({ body }) => {
    countMetric('RecordSeen');
    await withTelemetrySource('background_job:probe', async () => countMetric('JobSeen', body.n));
  },
});
const schedule = scheduledHandler('probe', async () => {
  countMetric('SweepRan');
  countMetric('TypedThing', 1, undefined, { type: 'signature_obtained' });
});

/** Everything printed (stdout, stderr and the console) while `work` runs. */
async function printed(work: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const keep = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(keep),
    vi.spyOn(process.stderr, 'write').mockImplementation(keep),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args) => {
        keep(args.map(String).join(' '));
      }),
    ),
  ];
  try {
    await work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return `${lines.join('\n')}\n`;
}

async function invokeBoth(): Promise<string> {
  return printed(async () => {
    await consumer(
      { Records: [record('a', { n: 1 }), record('b', { n: 2 })] } as SQSEvent,
      context,
    );
    await schedule({}, context);
  });
}

/** name → dimension set (with the source value), as CloudWatch would extract them. */
function emittedSets(text: string): string[] {
  return [
    ...new Set(
      datapointsOf(text)
        .filter((p) => p.name !== 'ColdStart')
        .map((p) => `${p.name} {${dimensionSet(p.dimensions)}} source=${p.dimensions.source}`),
    ),
  ].sort();
}

const EXPECTED = [
  'JobSeen {service,source} source=background_job:probe',
  'RecordSeen {service,source} source=queue:jobs',
  'SweepRan {service,source} source=schedule:probe',
  'TypedThing {service,source,type} source=schedule:probe',
];

it('reads the log lines it checks (the logger is on)', () => {
  expect(logger.getLevelName()).toBe('DEBUG');
});

describe.each([
  ['on AWS (one invocation at a time, metrics batched)', undefined],
  ['in the local runtime (invocations overlap, one line per metric)', '1'],
])('metric dimensions %s', (_where, local) => {
  beforeAll(() => {
    if (local === undefined) delete process.env.ONCEFLOW_LOCAL;
    else process.env.ONCEFLOW_LOCAL = local;
  });
  afterAll(() => {
    delete process.env.ONCEFLOW_LOCAL;
  });

  it('gives every metric service, source and its own dimensions, source set once', async () => {
    expect(emittedSets(await invokeBoth())).toEqual(EXPECTED);
  });

  it('prints no WARN line: no dimension added twice, no key defined twice', async () => {
    const text = await invokeBoth();
    expect(text).not.toMatch(/has already been added|is defined as both/);
    const warnings = text
      .split('\n')
      .filter((line) => /"level":"(WARN|ERROR)"/.test(line) || /^(WARN|Warning)/.test(line));
    expect(warnings).toEqual([]);
  });
});
