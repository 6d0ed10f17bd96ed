import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  currentTelemetry,
  logger,
  maskPhones,
  withInvocation,
  withTelemetry,
  withTelemetrySource,
} from '../../../functions/kernel/telemetry.js';

describe('telemetry context', () => {
  it('keeps concurrent sources apart', async () => {
    const seen: string[] = [];
    await Promise.all(
      ['http:GET /a', 'queue:jobs', 'schedule:recover'].map((source) =>
        withTelemetry({ source }, async () => {
          await new Promise((r) => setImmediate(r));
          seen.push(`${source}=${currentTelemetry().source}`);
        }),
      ),
    );
    expect(seen.sort()).toEqual([
      'http:GET /a=http:GET /a',
      'queue:jobs=queue:jobs',
      'schedule:recover=schedule:recover',
    ]);
  });

  it('lets a queue consumer re-attribute work to a job type', () => {
    const source = withTelemetry({ source: 'queue:jobs', tenantId: 't1' }, () =>
      withTelemetrySource('background_job:ai_triage', () => currentTelemetry()),
    );
    expect(source).toEqual({ source: 'background_job:ai_triage', tenantId: 't1' });
  });
});

/**
 * The unit project runs with POWERTOOLS_LOG_LEVEL=SILENT (vitest.config.ts); the tests below read
 * the log lines, so they turn logging on for themselves.
 */
function withLogsOn(): void {
  let before: ReturnType<typeof logger.getLevelName>;
  beforeAll(() => {
    before = logger.getLevelName();
    logger.setLogLevel('INFO');
  });
  afterAll(() => logger.setLogLevel(before));
}

describe('log masking', () => {
  withLogsOn();
  it('masks phone numbers in any common form, keeping two digits', () => {
    expect(maskPhones('to +972501234567 now')).toBe('to ***67 now');
    expect(maskPhones('jid 972501234567@s.whatsapp.net')).toBe('jid ***67@s.whatsapp.net');
    expect(maskPhones('call (415) 555-2671')).toBe('call ***71');
    expect(maskPhones('order 42 of 3')).toBe('order 42 of 3');
    expect(maskPhones('message m_3fa91234567b80 stored')).toBe('message m_3fa91234567b80 stored');
    expect(maskPhones('wa_id=972501234567,')).toBe('wa_id=***67,');
    expect(maskPhones('at 2026-11-22T05:19:55.000Z')).toBe('at 2026-11-22T05:19:55.000Z');
  });

  it('writes log lines with the source and without phones or bodies', () => {
    // Prepare
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const info = vi.spyOn(console, 'info').mockImplementation((...args) => {
      lines.push(args.map(String).join(' '));
    });
    try {
      // Act
      withTelemetry({ source: 'background_job:lead_match' }, () =>
        logger.info('sent to +972501234567', { body: 'hello secret', to: '+972501234567', n: 3 }),
      );
    } finally {
      spy.mockRestore();
      info.mockRestore();
    }
    // Assess
    const text = lines.join('\n');
    expect(text).toContain('background_job:lead_match');
    expect(text).not.toContain('972501234567');
    expect(text).not.toContain('hello secret');
    expect(text).toContain('"n":3');
  });
});

describe('invocation identity in logs', () => {
  withLogsOn();
  it('names the function of the invocation that wrote the line, when invocations overlap', async () => {
    // Prepare
    const lines: string[] = [];
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        lines.push(String(chunk));
        return true;
      }),
      vi.spyOn(console, 'info').mockImplementation((...args) => {
        lines.push(args.map(String).join(' '));
      }),
    ];
    try {
      // Act: two invocations interleave in one process, as in the local runtime.
      await Promise.all(
        ['fnA', 'fnB'].map((functionName) =>
          withInvocation(
            `queue:${functionName}`,
            { functionName, awsRequestId: `r-${functionName}` },
            async () => {
              await new Promise((r) => setImmediate(r));
              logger.info(`hello from ${functionName}`);
            },
          ),
        ),
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // Assess
    const parsed = lines
      .flatMap((l) => l.split('\n'))
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    for (const name of ['fnA', 'fnB']) {
      expect(parsed.find((p) => p.message === `hello from ${name}`)).toMatchObject({
        function_name: name,
        function_request_id: `r-${name}`,
        source: `queue:${name}`,
      });
    }
  });
});
