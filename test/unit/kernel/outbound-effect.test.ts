import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  armFailpoints,
  clearFailpoints,
  defineFailpoint,
  FailpointCrashError,
} from '../../../functions/kernel/failpoints.js';
import {
  type OutboundEffect,
  reconcileDueAt,
  runOutboundEffect,
  settleUnknownOutcome,
} from '../../../functions/kernel/outbound-effect.js';

type Result =
  | { kind: 'accepted'; id: string }
  | { kind: 'rejected'; retry: boolean }
  | { kind: 'unknown'; reason: string };

const failpoints = {
  afterClaim: defineFailpoint('test-outbound.after-claim', 'claimed'),
  afterAccepted: defineFailpoint('test-outbound.after-accepted', 'accepted, not stored'),
  afterStored: defineFailpoint('test-outbound.after-stored', 'stored'),
  afterRejected: defineFailpoint('test-outbound.after-rejected', 'refused, not released'),
};

function effect(answers: Result[], log: string[], claimed = true): OutboundEffect<Result> {
  return {
    claim: async () => {
      log.push('claim');
      return claimed;
    },
    send: async () => {
      log.push('send');
      const next = answers.shift();
      if (!next) throw new Error('no answer left');
      return next;
    },
    retryInline: (refused) => refused.retry,
    beforeRetry: async () => {
      log.push('token');
      return true;
    },
    record: async (accepted) => {
      log.push(`record:${accepted.id}`);
    },
    failpoints,
    sleep: async () => {},
  };
}

const previous = process.env.ONCEFLOW_FAILPOINTS;
beforeEach(() => {
  process.env.ONCEFLOW_FAILPOINTS = 'on';
});
afterEach(() => {
  clearFailpoints();
  if (previous === undefined) delete process.env.ONCEFLOW_FAILPOINTS;
  else process.env.ONCEFLOW_FAILPOINTS = previous;
});

describe('outbound effect: one send, its provider id the very next write', () => {
  it('sends nothing when the claim is lost', async () => {
    const log: string[] = [];
    expect((await runOutboundEffect(effect([], log, false))).kind).toBe('not_claimed');
    expect(log).toEqual(['claim']);
  });

  it('records the provider id right after the acceptance, with nothing between', async () => {
    const log: string[] = [];
    const run = await runOutboundEffect(effect([{ kind: 'accepted', id: 'p1' }], log));
    expect(run.kind).toBe('accepted');
    expect(log).toEqual(['claim', 'send', 'record:p1']);
  });

  it('retries a refusal inline while holding the claim, never an unknown outcome', async () => {
    const log: string[] = [];
    const run = await runOutboundEffect(
      effect(
        [
          { kind: 'rejected', retry: true },
          { kind: 'unknown', reason: 'timeout' },
        ],
        log,
      ),
    );
    expect(run.kind).toBe('unknown');
    expect(log).toEqual(['claim', 'send', 'token', 'send']);
  });

  it('hands a permanent refusal back without another call', async () => {
    const log: string[] = [];
    const run = await runOutboundEffect(effect([{ kind: 'rejected', retry: false }], log));
    expect(run.kind).toBe('rejected');
    expect(log).toEqual(['claim', 'send']);
  });

  it('a crash after the claim sends nothing; after the acceptance stores nothing', async () => {
    armFailpoints({ [failpoints.afterClaim]: { probability: 1, times: 1 } });
    const log: string[] = [];
    await expect(runOutboundEffect(effect([], log))).rejects.toBeInstanceOf(FailpointCrashError);
    expect(log).toEqual(['claim']);
    armFailpoints({ [failpoints.afterAccepted]: { probability: 1, times: 1 } });
    const log2: string[] = [];
    await expect(
      runOutboundEffect(effect([{ kind: 'accepted', id: 'p' }], log2)),
    ).rejects.toBeInstanceOf(FailpointCrashError);
    expect(log2).toEqual(['claim', 'send']);
  });

  it('a crash after the id is stored leaves it stored; after a refusal, nothing more is called', async () => {
    armFailpoints({ [failpoints.afterStored]: { probability: 1, times: 1 } });
    const log: string[] = [];
    await expect(
      runOutboundEffect(effect([{ kind: 'accepted', id: 'p' }], log)),
    ).rejects.toBeInstanceOf(FailpointCrashError);
    expect(log).toEqual(['claim', 'send', 'record:p']);
    armFailpoints({ [failpoints.afterRejected]: { probability: 1, times: 1 } });
    const log2: string[] = [];
    await expect(
      runOutboundEffect(effect([{ kind: 'rejected', retry: false }], log2)),
    ).rejects.toBeInstanceOf(FailpointCrashError);
    expect(log2).toEqual(['claim', 'send']);
  });

  it('never calls again after an unknown outcome, even when the pipeline would retry anything', async () => {
    const log: string[] = [];
    const run = await runOutboundEffect({
      ...effect([{ kind: 'unknown', reason: 'timeout' }], log),
      retryInline: () => true,
    });
    expect(run.kind).toBe('unknown');
    expect(log).toEqual(['claim', 'send']);
  });

  it('stops retrying a refusal after inlineRetries more calls and hands it back', async () => {
    const log: string[] = [];
    const refusals = Array.from({ length: 5 }, () => ({ kind: 'rejected', retry: true }) as const);
    const run = await runOutboundEffect(effect(refusals, log));
    expect(run.kind).toBe('rejected');
    // The first call and the default two retries, each retry after a token.
    expect(log).toEqual(['claim', 'send', 'token', 'send', 'token', 'send']);
  });

  it('stops retrying when beforeRetry says no (no send token)', async () => {
    const log: string[] = [];
    const refusals = Array.from({ length: 3 }, () => ({ kind: 'rejected', retry: true }) as const);
    const run = await runOutboundEffect({
      ...effect(refusals, log),
      beforeRetry: async () => {
        log.push('no-token');
        return false;
      },
    });
    expect(run.kind).toBe('rejected');
    expect(log).toEqual(['claim', 'send', 'no-token']);
  });
});

describe('unknown outcome: evidence first, then the tenant policy after the window', () => {
  const since = 1_000_000;
  const base = { now: since + 601_000, reconcileWindowSeconds: 600 };

  it('waits while the lease lives or the window is open', () => {
    const open = { ...base, now: since + 599_000, policy: 'hold' as const };
    expect(settleUnknownOutcome({ sendingSince: since }, open).kind).toBe('wait');
    const leased = { sendingSince: since, leaseExpiresAt: base.now + 1 };
    expect(settleUnknownOutcome(leased, { ...base, policy: 'hold' }).kind).toBe('wait');
  });

  it('records a found provider id whatever the clock says', () => {
    const found = { kind: 'found', providerMessageId: 'x' } as const;
    const open = { ...base, now: since, policy: 'hold' as const, evidence: found };
    expect(settleUnknownOutcome({ sendingSince: since }, open)).toEqual({
      kind: 'record',
      providerMessageId: 'x',
    });
  });

  it('holds under hold; retries once under retry_once, then holds', () => {
    expect(settleUnknownOutcome({ sendingSince: since }, { ...base, policy: 'hold' }).kind).toBe(
      'hold',
    );
    const once = { ...base, policy: 'retry_once' as const };
    expect(settleUnknownOutcome({ sendingSince: since }, once).kind).toBe('retry');
    expect(settleUnknownOutcome({ sendingSince: since, unknownRetries: 1 }, once).kind).toBe(
      'hold',
    );
  });

  it('records a provider id already on the effect (a status or echo stored it)', () => {
    expect(
      settleUnknownOutcome(
        { sendingSince: since, providerMessageId: 'y' },
        { ...base, policy: 'hold' },
      ),
    ).toEqual({ kind: 'record', providerMessageId: 'y' });
  });

  it('does not release on an absent record while the lease lives or the window is open', () => {
    const absent = { kind: 'absent' } as const;
    const open = { ...base, now: since + 599_000, policy: 'hold' as const, evidence: absent };
    expect(settleUnknownOutcome({ sendingSince: since }, open).kind).toBe('wait');
  });

  it('releases without spending the retry when the provider record shows no send', () => {
    const absent = { ...base, policy: 'hold' as const, evidence: { kind: 'absent' } as const };
    expect(settleUnknownOutcome({ sendingSince: since }, absent).kind).toBe('release');
  });
});

describe('a claim is due on the reconcile sweep once its lease and the window are both over', () => {
  it('takes the later of the two', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(reconcileDueAt(now, { leaseSeconds: 30, reconcileWindowSeconds: 600 })).toBe(
      new Date(now + 600_000).toISOString(),
    );
    expect(reconcileDueAt(now, { leaseSeconds: 900, reconcileWindowSeconds: 600 })).toBe(
      new Date(now + 900_000).toISOString(),
    );
  });
});
