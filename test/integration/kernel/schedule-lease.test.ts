/**
 * The schedule lease (`functions/kernel/schedule.ts`) against DynamoDB Local: runs of one schedule
 * fired together never work at the same time (raced, staggered, many trials); a run that throws
 * lets the next one in at once; a run that died holding the lease blocks runs until the lease
 * expires (the clock seam moves past it), no longer; the lease lasts the invocation's own time.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock, systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { claimLease } from '../../../functions/kernel/lease.js';
import {
  freeScheduleLease,
  runLeased,
  scheduleLeaseKey,
} from '../../../functions/kernel/schedule.js';
import { raceTrials } from '../../support/race.js';

const table = () => tableName('campaigns');
const invocation = (remainingMs = 120_000) => ({ getRemainingTimeInMillis: () => remainingMs });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedule lease', () => {
  it('runs of one schedule fired together never work at the same time', async () => {
    const report = await raceTrials({
      trials: 30,
      parallelTrials: 5,
      maxStaggerMs: 15,
      setup: () => ({ name: `race-${randomUUID()}`, inFlight: 0, peak: 0, ran: 0 }),
      contenders: (state) =>
        Array.from(
          { length: 3 },
          () => () =>
            runLeased(state.name, table(), invocation(), async () => {
              state.inFlight += 1;
              state.peak = Math.max(state.peak, state.inFlight);
              await pause(10);
              state.inFlight -= 1;
              state.ran += 1;
              return 'ran';
            }),
        ),
      check: (state, outcomes) => {
        expect(state.peak).toBe(1);
        expect(state.ran).toBeGreaterThanOrEqual(1);
        for (const outcome of outcomes) {
          expect(outcome.status).toBe('fulfilled');
          const value = (outcome as PromiseFulfilledResult<unknown>).value;
          if (value !== 'ran') {
            expect(value).toEqual({
              skipped: 'another run of this schedule holds its lease',
              schedule: state.name,
            });
          }
        }
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('a run that throws releases the lease: the next run works at once', async () => {
    const name = `throws-${randomUUID()}`;
    await expect(
      runLeased(name, table(), invocation(), async () => {
        throw new Error('sweep failed');
      }),
    ).rejects.toThrow('sweep failed');
    expect(await runLeased(name, table(), invocation(), async () => 'ran')).toBe('ran');
  });

  it('a run that died holding the lease blocks runs until the lease expires, no longer', async () => {
    const name = `crashed-${randomUUID()}`;
    // A run whose invocation was killed: it claimed for its 120 s and never released.
    const dead = await claimLease(ddb, {
      table: table(),
      key: scheduleLeaseKey(name),
      owner: 'killed-invocation',
      leaseSeconds: 120,
      clock: systemClock,
    });
    expect(dead.claimed).toBe(true);
    expect(await runLeased(name, table(), invocation(), async () => 'ran')).toMatchObject({
      skipped: expect.any(String),
    });
    advanceSystemClock(121_000);
    expect(await runLeased(name, table(), invocation(), async () => 'ran')).toBe('ran');
  });

  it('a runtime that starts again frees the lease its killed process held: the next run works', async () => {
    const name = `restart-${randomUUID()}`;
    await claimLease(ddb, {
      table: table(),
      key: scheduleLeaseKey(name),
      owner: 'killed-process',
      leaseSeconds: 120,
      clock: systemClock,
    });
    expect(await freeScheduleLease(ddb, table(), name)).toBe(true);
    expect(await runLeased(name, table(), invocation(), async () => 'ran')).toBe('ran');
    // Nothing held, nothing to free; a schedule whose lease lives elsewhere is left alone.
    expect(await freeScheduleLease(ddb, table(), name)).toBe(false);
    expect(await freeScheduleLease(ddb, table(), `never-${randomUUID()}`)).toBe(false);
  });

  it("lasts the invocation's remaining time, and is released after the run", async () => {
    const name = `length-${randomUUID()}`;
    const key = scheduleLeaseKey(name);
    let during: Record<string, unknown> | undefined;
    const before = systemClock.now();
    await runLeased(name, table(), invocation(90_500), async () => {
      during = (
        await ddb.send(new GetCommand({ TableName: table(), Key: key, ConsistentRead: true }))
      ).Item;
    });
    expect(Number(during?.leaseExpiresAt) - before).toBeGreaterThanOrEqual(91_000);
    expect(Number(during?.leaseExpiresAt) - before).toBeLessThan(92_000);
    const after = (
      await ddb.send(new GetCommand({ TableName: table(), Key: key, ConsistentRead: true }))
    ).Item;
    expect(after?.leaseOwner).toBeUndefined();
    expect(after).toMatchObject({ kind: 'scheduleLease', schedule: name });
  });
});
