/**
 * The conversion ledger against the real DynamoDB Local, through its real handlers: a conversion
 * is logged exactly once per (user, type, stay), whichever path notices first, and never depends on
 * who removed the user.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { reconcileConversions, sweepWorkQueues } from '../../../functions/ledger/index.js';
import { keys } from '../../../functions/ledger/items.js';
import { FENCE_TTL_SECONDS } from '../../../functions/ledger/ledger-store.js';
import { tenantConfigSchema } from '../../../functions/tenants/tenant-store.js';
import { raceTrials, seededRandom } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import {
  conversionsOf,
  createLedgerTenant,
  delayJoinWrites,
  depsAhead,
  expectConversionsMatchStays,
  holdJoinWrite,
  type LedgerTenant,
  ledgerApi,
} from './ledger-support.js';

const Q = 'unsigned_users';
const SIGNED = 'signature_obtained';
const WINDOW = 600;

const userId = () => `u-${randomUUID().slice(0, 12)}`;
const now = () => new Date().toISOString();

async function tenantWithApi(workQueues?: Record<string, string>) {
  const tenant = await createLedgerTenant(workQueues);
  return { tenant, api: ledgerApi(tenant.apiKey) };
}

async function runSchedules(tenant: LedgerTenant) {
  await sweepWorkQueues(depsAhead(0), { tenantId: tenant.tenantId });
  return reconcileConversions(depsAhead(WINDOW + 1), WINDOW, { tenantId: tenant.tenantId });
}

describe('work-queue membership', () => {
  it('a join is idempotent while the stay lasts; leaving and joining again starts a new stay', async () => {
    const { api } = await tenantWithApi();
    const user = userId();
    const first = await api.join(Q, user);
    expect(first.status).toBe(200);
    expect(first.json.created).toBe(true);
    const again = await api.join(Q, user);
    expect(again.json).toEqual({ stayId: first.json.stayId, created: false });
    const members = await api.members(Q);
    expect(members.json.members).toEqual([
      { userId: user, stayId: first.json.stayId, joinedAt: expect.any(String) },
    ]);
    expect((await api.leave(Q, user)).json).toEqual({ stayId: first.json.stayId, left: true });
    expect((await api.leave(Q, user)).json.left).toBe(false);
    expect((await api.members(Q)).json.members).toEqual([]);
    const second = await api.join(Q, user);
    expect(second.json.created).toBe(true);
    expect(second.json.stayId).not.toBe(first.json.stayId);
  });

  it('20 concurrent joins of one user → one stay', async () => {
    const { api } = await tenantWithApi();
    const user = userId();
    const answers = await Promise.all(Array.from({ length: 20 }, () => api.join(Q, user)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.filter((a) => a.json.created)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.json.stayId)).size).toBe(1);
  });

  it('a queue type the tenant does not have is 404; its own workQueues are queues', async () => {
    const { tenant, api } = await tenantWithApi({ kyc_pending: 'kyc_approved' });
    expect((await api.join('no_such_queue', userId())).status).toBe(404);
    expect((await api.members('no_such_queue')).status).toBe(404);
    expect((await api.validate('no_such_queue', { userIds: ['a'] })).status).toBe(404);
    const user = userId();
    expect((await api.join('kyc_pending', user)).status).toBe(200);
    expect((await api.members('kyc_pending')).json.members).toHaveLength(1);
    expect(await conversionsOf(tenant.tenantId, user)).toEqual([]);
  });
});

describe('conversions', () => {
  it('evidence while in the queue → one conversion (source event) and the user leaves', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const joined = await api.join(Q, user);
    const posted = await api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'sig-1' });
    expect(posted.status).toBe(202);
    expect(posted.json).toEqual({ eventId: 'sig-1', duplicate: false, conversionsLogged: 1 });
    const logged = await conversionsOf(tenant.tenantId, user);
    expect(logged.map((c) => [c.source, c.type, c.queueType, c.stayId])).toEqual([
      ['event', SIGNED, Q, joined.json.stayId],
    ]);
    expect((await api.members(Q)).json.members).toEqual([]);
    const listed = await api.conversions({ userId: user });
    expect(listed.json.conversions).toHaveLength(1);
    expect(listed.json.conversions[0]).toMatchObject({ userId: user, source: 'event' });
  });

  it("a tenant's own queue type converts on its own event type", async () => {
    const { tenant, api } = await tenantWithApi({ kyc_pending: 'kyc_approved' });
    const user = userId();
    await api.join('kyc_pending', user);
    await api.event(user, { type: SIGNED, occurredAt: now() }); // not what this queue waits for
    expect(await conversionsOf(tenant.tenantId, user)).toEqual([]);
    await api.event(user, { type: 'kyc_approved', occurredAt: now() });
    const logged = await conversionsOf(tenant.tenantId, user);
    expect(logged.map((c) => [c.queueType, c.type])).toEqual([['kyc_pending', 'kyc_approved']]);
  });

  it('the same event posted 30 times concurrently → one conversion; with no eventId too', async () => {
    const { tenant, api } = await tenantWithApi();
    for (const eventId of ['dup-1', undefined]) {
      const user = userId();
      await api.join(Q, user);
      const body = { type: SIGNED, occurredAt: now(), ...(eventId ? { eventId } : {}) };
      const answers = await Promise.all(Array.from({ length: 30 }, () => api.event(user, body)));
      expect(answers.map((a) => a.status)).toEqual(Array(30).fill(202));
      expect(answers.reduce((n, a) => n + a.json.conversionsLogged, 0)).toBe(1);
      expect(await conversionsOf(tenant.tenantId, user)).toHaveLength(1);
    }
  });

  it('the same eventId with another occurredAt is 409 and changes nothing', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    await api.join(Q, user);
    const t = now();
    await api.event(user, { type: SIGNED, occurredAt: t, eventId: 'e1' });
    const other = await api.event(user, {
      type: SIGNED,
      occurredAt: new Date(Date.parse(t) - 1000).toISOString(),
      eventId: 'e1',
    });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('conflict');
    expect(await conversionsOf(tenant.tenantId, user)).toHaveLength(1);
  });

  it('evidence arriving after the user was removed for another reason → still logged, once', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const joined = await api.join(Q, user);
    const signedAt = now(); // the user signed while in the queue ...
    await api.leave(Q, user, { reason: 'call_completed' }); // ... the call completed first ...
    const late = await api.event(user, { type: SIGNED, occurredAt: signedAt }); // ... evidence late
    expect(late.json.conversionsLogged).toBe(1);
    await api.event(user, { type: SIGNED, occurredAt: signedAt });
    await runSchedules(tenant);
    const logged = await conversionsOf(tenant.tenantId, user);
    expect(logged.map((c) => [c.source, c.stayId])).toEqual([['event', joined.json.stayId]]);
  });

  it('evidence of a past stay matches that stay, even after the user joined again', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const first = await api.join(Q, user);
    const signedAt = now();
    await api.leave(Q, user);
    const second = await api.join(Q, user);
    await api.event(user, { type: SIGNED, occurredAt: signedAt });
    const logged = await conversionsOf(tenant.tenantId, user);
    expect(logged.map((c) => c.stayId)).toEqual([first.json.stayId]);
    // The new stay is untouched: the user is still in the queue.
    expect((await api.members(Q)).json.members.map((m: { stayId: string }) => m.stayId)).toEqual([
      second.json.stayId,
    ]);
  });

  it('evidence that happened after the user left, or before the stay, logs nothing', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const before = new Date(Date.now() - 60_000).toISOString();
    await api.join(Q, user);
    await api.event(user, { type: SIGNED, occurredAt: before });
    await api.leave(Q, user);
    await api.event(user, { type: SIGNED, occurredAt: now() });
    await runSchedules(tenant);
    expect(await conversionsOf(tenant.tenantId, user)).toEqual([]);
    expect((await api.missing()).json.missing).toEqual([]);
  });

  it('a new stay converts again: one conversion per stay', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const stays: string[] = [];
    for (let i = 0; i < 3; i++) {
      stays.push((await api.join(Q, user)).json.stayId);
      await api.event(user, { type: SIGNED, occurredAt: now(), eventId: `sig-${i}` });
    }
    const logged = await conversionsOf(tenant.tenantId, user);
    expect(logged.map((c) => c.stayId).sort()).toEqual([...stays].sort());
    expect(new Set(stays).size).toBe(3);
  });

  it('no evidence → validation removes nothing and no schedule logs anything', async () => {
    const { tenant, api } = await tenantWithApi();
    const users = [userId(), userId()];
    for (const u of users) await api.join(Q, u);
    const validated = await api.validate(Q, { userIds: users });
    expect(validated.json).toEqual({ removed: [], conversionsLogged: 0 });
    await runSchedules(tenant);
    for (const u of users) expect(await conversionsOf(tenant.tenantId, u)).toEqual([]);
    expect((await api.members(Q)).json.members).toHaveLength(2);
  });

  it('pre-call validation removes users whose stay has evidence and logs their conversions', async () => {
    const { tenant, api } = await tenantWithApi();
    const [a, b] = [userId(), userId()];
    await api.join(Q, a);
    await api.join(Q, b);
    // Evidence stored, but the event path crashed before applying it (see the crash matrix); here
    // the evidence arrives for a user of another queue type first, then is found by validation.
    const { store, clock } = depsAhead(0);
    await store.putEvidence({
      tenantId: tenant.tenantId,
      userId: a,
      type: SIGNED,
      evidenceId: 'e:manual',
      eventId: 'manual',
      occurredAt: new Date(clock.now()).toISOString(),
      effectiveAt: new Date(clock.now()).toISOString(),
      receivedAt: new Date(clock.now()).toISOString(),
      state: 'pending',
    });
    const validated = await api.validate(Q, { userIds: [a, b] });
    expect(validated.json).toEqual({ removed: [a], conversionsLogged: 1 });
    expect((await conversionsOf(tenant.tenantId, a)).map((c) => c.source)).toEqual([
      'pre_call_validation',
    ]);
    expect(await conversionsOf(tenant.tenantId, b)).toEqual([]);
  });

  it('evidence stored but never applied: the dry run lists it, the reconciliation logs it once', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    const joined = await api.join(Q, user);
    const deps = depsAhead(0);
    const at = new Date(deps.clock.now()).toISOString();
    await deps.store.putEvidence({
      tenantId: tenant.tenantId,
      userId: user,
      type: SIGNED,
      evidenceId: 'e:lost',
      eventId: 'lost',
      occurredAt: at,
      effectiveAt: at,
      receivedAt: at,
      state: 'pending',
    });
    expect((await api.missing()).json.missing).toEqual([]); // not past the window yet
    const ahead = depsAhead(WINDOW + 1);
    const { listMissingConversions } = await import('../../../functions/ledger/sweeps.js');
    const dry = await listMissingConversions(ahead, tenant.tenantId, WINDOW);
    expect(dry.missing).toEqual([
      expect.objectContaining({ userId: user, queueType: Q, stayId: joined.json.stayId }),
    ]);
    expect(await conversionsOf(tenant.tenantId, user)).toEqual([]); // the dry run wrote nothing
    const report = await reconcileConversions(ahead, WINDOW, { tenantId: tenant.tenantId });
    expect(report.conversionsLogged).toBe(1);
    await reconcileConversions(ahead, WINDOW, { tenantId: tenant.tenantId });
    expect((await conversionsOf(tenant.tenantId, user)).map((c) => c.source)).toEqual([
      'reconciliation',
    ]);
    expect((await listMissingConversions(ahead, tenant.tenantId, WINDOW)).missing).toEqual([]);
  });
});

describe('the sweep indexes are shared by every tenant', () => {
  it('one malformed pending entry is counted (UnreadableSweepEntry) and skipped: the evidence beside it is still logged', async () => {
    // Prepare: evidence never applied, and beside it in both indexes an entry with no evidenceId.
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    await api.join(Q, user);
    const deps = depsAhead(0);
    const at = new Date(deps.clock.now()).toISOString();
    await deps.store.putEvidence({
      tenantId: tenant.tenantId,
      userId: user,
      type: SIGNED,
      evidenceId: 'e:beside',
      eventId: 'beside',
      occurredAt: at,
      effectiveAt: at,
      receivedAt: at,
      state: 'pending',
    });
    const bad = { pk: `MALFORMED#${randomUUID()}`, sk: 'EVIDENCE' };
    await ddb.send(
      new PutCommand({
        TableName: tableName('ledger'),
        Item: {
          ...bad,
          sweepPk: keys.sweep(0),
          sweepAt: '2000-01-01T00:00:00.000Z',
          gsi1pk: keys.pendingOfTenant(tenant.tenantId),
          gsi1sk: '2000-01-01T00:00:00.000Z#x',
          tenantId: tenant.tenantId,
          userId: user,
        },
      }),
    );
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      // Act
      const { listMissingConversions } = await import('../../../functions/ledger/sweeps.js');
      const ahead = depsAhead(WINDOW + 1);
      const dry = await listMissingConversions(ahead, tenant.tenantId, WINDOW);
      const report = await reconcileConversions(ahead, WINDOW, { tenantId: tenant.tenantId });

      // Assess: before, the MalformedItemError ended both, for every tenant's evidence.
      expect(dry.missing).toEqual([expect.objectContaining({ userId: user, queueType: Q })]);
      expect(report.conversionsLogged).toBe(1);
      expect(out.mock.calls.map((c) => String(c[0])).join('\n')).toContain(
        '"UnreadableSweepEntry"',
      );
    } finally {
      out.mockRestore();
      await ddb.send(new DeleteCommand({ TableName: tableName('ledger'), Key: bad }));
    }
  });
});

describe('the seed race', () => {
  it('evidence + pre-call validation + removal by call completion + cleanup sweep, in random orders → exactly one conversion per user, none missing', async () => {
    const USERS = 6;
    await raceTrials({
      trials: 25,
      parallelTrials: 2,
      maxStaggerMs: 15,
      setup: async () => {
        const { tenant, api } = await tenantWithApi();
        const users = Array.from({ length: USERS }, userId);
        const stays = new Map<string, string>();
        for (const u of users) stays.set(u, (await api.join(Q, u)).json.stayId);
        const signedAt = now();
        return { tenant, api, users, stays, signedAt };
      },
      contenders: ({ tenant, api, users, signedAt }) =>
        users.flatMap((u) => [
          () => api.event(u, { type: SIGNED, occurredAt: signedAt, eventId: `sig-${u}` }),
          () => api.validate(Q, { userIds: [u] }),
          () => api.leave(Q, u, { reason: 'call_completed' }),
          () => sweepWorkQueues(depsAhead(0), { tenantId: tenant.tenantId }),
        ]),
      check: async ({ tenant, api, users, stays }, outcomes) => {
        for (const o of outcomes) {
          if (o.status === 'rejected') throw o.reason;
          const value = o.value as { status?: number };
          if (value.status !== undefined) expect(value.status).toBeLessThan(300);
        }
        for (const u of users) {
          const logged = await conversionsOf(tenant.tenantId, u);
          expect(logged.map((c) => c.stayId)).toEqual([stays.get(u)]);
        }
        expect((await api.members(Q)).json.members).toEqual([]);
        const after = await runSchedules(tenant);
        expect(after.conversionsLogged).toBe(0);
      },
    });
  });

  it('users without evidence in the same race → no conversion', async () => {
    await raceTrials({
      trials: 10,
      maxStaggerMs: 10,
      setup: async () => {
        const { tenant, api } = await tenantWithApi();
        const users = [userId(), userId()];
        for (const u of users) await api.join(Q, u);
        return { tenant, api, users };
      },
      contenders: ({ tenant, api, users }) => [
        () => api.validate(Q, { userIds: users }),
        ...users.map((u) => () => api.leave(Q, u)),
        () => sweepWorkQueues(depsAhead(0), { tenantId: tenant.tenantId }),
      ],
      check: async ({ tenant, users }) => {
        await runSchedules(tenant);
        for (const u of users) expect(await conversionsOf(tenant.tenantId, u)).toEqual([]);
      },
    });
  });
});

/**
 * A join, the evidence and a validation fired together in seeded orders (with `leftFirst` trials
 * starting from a stay already closed); the conversions are exactly those of the stays, as finally
 * recorded, that hold the evidence time.
 */
function raceJoinWithEvidence(leftFirst: (trial: number) => boolean) {
  return raceTrials({
    trials: 20,
    maxStaggerMs: 20,
    setup: async (trial) => {
      const { tenant, api } = await tenantWithApi();
      const user = userId();
      if (leftFirst(trial)) {
        await api.join(Q, user);
        await api.leave(Q, user);
      }
      return { tenant, api, user };
    },
    contenders: ({ api, user }) => [
      () => api.join(Q, user),
      () => api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'e1' }),
      () => api.validate(Q, { userIds: [user] }),
    ],
    check: async ({ tenant, user }) => {
      await runSchedules(tenant);
      await expectConversionsMatchStays(tenant.tenantId, Q, user, SIGNED);
    },
  });
}

describe('a join racing with evidence', () => {
  it('the conversion exists exactly when a stay (as finally recorded) holds the evidence time', async () => {
    await raceJoinWithEvidence(() => true);
  });
});

describe('a workQueues change', () => {
  /**
   * The ledger's modules as a container started after the change sees them (its tenant cache
   * empty): a fresh import of the handlers and schedules.
   */
  async function freshContainer() {
    vi.resetModules();
    const support = await import('./ledger-support.js');
    const ledger = await import('../../../functions/ledger/index.js');
    const clock = await import('../../../functions/kernel/clock.js');
    return { support, ledger, clock };
  }

  it('strands no stay: each stay converts on the event type it was joined with, on every path', async () => {
    const { tenant, api } = await tenantWithApi({ kyc_pending: 'kyc_approved' });
    const [byEvent, byValidation, byCleanup, byReconciliation, oldStay] = [1, 2, 3, 4, 5].map(
      userId,
    );
    for (const user of [byEvent, byValidation, byCleanup, byReconciliation, oldStay]) {
      await api.join('kyc_pending', user as string);
    }
    // The queue now waits for another event type.
    await testTenantStore(systemClock).putConfig(
      tenant.tenantId,
      tenantConfigSchema.parse({
        name: `Ledger ${tenant.tenantId}`,
        defaultCountry: 'IL',
        workQueues: { kyc_pending: 'kyc_verified' },
      }),
    );
    const fresh = await freshContainer();
    const later = fresh.support.ledgerApi(tenant.apiKey);
    const { store } = fresh.ledger.ledgerDeps();
    const stayed = async (user: string) =>
      (await store.getMember(tenant.tenantId, 'kyc_pending', user))?.status;

    // The event path: the stay's own type converts; the queue's new type does not (this stay never
    // waited for it), and the user stays in the queue until the right one.
    const newType = await later.event(oldStay as string, {
      type: 'kyc_verified',
      occurredAt: now(),
    });
    expect(newType.json.conversionsLogged).toBe(0);
    expect(await stayed(oldStay as string)).toBe('in');
    const ownType = await later.event(byEvent as string, {
      type: 'kyc_approved',
      occurredAt: now(),
    });
    expect.soft(ownType.json.conversionsLogged, 'the event path').toBe(1);
    expect.soft(await stayed(byEvent as string), 'left by the event').toBe('out');

    // Evidence whose event path crashed after storing it: validation, the cleanup sweep and the
    // reconciliation (with its dry run) each find it.
    const pending = (user: string, receivedAt: string) =>
      store.putEvidence({
        tenantId: tenant.tenantId,
        userId: user,
        type: 'kyc_approved',
        evidenceId: `e:${user}`,
        eventId: user,
        occurredAt: receivedAt,
        effectiveAt: receivedAt,
        receivedAt,
        state: 'pending',
      });
    await pending(byValidation as string, now());
    const validated = await later.validate('kyc_pending', { userIds: [byValidation] });
    expect.soft(validated.json, 'pre-call validation').toEqual({
      removed: [byValidation],
      conversionsLogged: 1,
    });

    await pending(byCleanup as string, now());
    await fresh.ledger.sweepWorkQueues(fresh.ledger.ledgerDeps(), { tenantId: tenant.tenantId });
    expect
      .soft(
        (await conversionsOf(tenant.tenantId, byCleanup as string)).map((c) => c.source),
        'cleanup',
      )
      .toEqual(['cleanup']);

    await pending(byReconciliation as string, now());
    fresh.clock.advanceSystemClock((WINDOW + 1) * 1000);
    try {
      const missing = await later.missing();
      expect
        .soft(
          missing.json.missing.map((m: { userId: string }) => m.userId),
          'the dry run',
        )
        .toEqual([byReconciliation]);
      const ahead = fresh.ledger.ledgerDeps();
      await fresh.ledger.reconcileConversions(ahead, WINDOW, { tenantId: tenant.tenantId });
    } finally {
      fresh.clock.advanceSystemClock(-(WINDOW + 1) * 1000);
    }
    expect
      .soft(
        (await conversionsOf(tenant.tenantId, byReconciliation as string)).map((c) => c.source),
        'reconciliation',
      )
      .toEqual(['reconciliation']);

    // A stay joined after the change waits for the new type.
    const newcomer = userId();
    await later.join('kyc_pending', newcomer);
    expect(
      (await later.event(newcomer, { type: 'kyc_approved', occurredAt: now() })).json,
    ).toMatchObject({ conversionsLogged: 0 });
    expect(
      (await later.event(newcomer, { type: 'kyc_verified', occurredAt: now() })).json,
    ).toMatchObject({ conversionsLogged: 1 });
    expect(
      (await later.event(oldStay as string, { type: 'kyc_approved', occurredAt: now() })).json,
    ).toMatchObject({ conversionsLogged: 1 });
  });

  it('a queue type removed from the tenant still converts the stays it holds', async () => {
    const { tenant, api } = await tenantWithApi({ kyc_pending: 'kyc_approved' });
    const user = userId();
    await api.join('kyc_pending', user);
    await testTenantStore(systemClock).putConfig(
      tenant.tenantId,
      tenantConfigSchema.parse({ name: `Ledger ${tenant.tenantId}`, defaultCountry: 'IL' }),
    );
    const fresh = await freshContainer();
    const later = fresh.support.ledgerApi(tenant.apiKey);
    expect((await later.join('kyc_pending', userId())).status).toBe(404);
    expect(
      (await later.event(user, { type: 'kyc_approved', occurredAt: now() })).json,
    ).toMatchObject({ conversionsLogged: 1 });
  });
});

describe('a join whose write lands after the evidence was decided', () => {
  // The join reads the clock, then its write is held back (an SDK retry after throttling) while an
  // event dated after that clock reading finds no stay and is applied. The join must not then open
  // a stay that holds the evidence: nothing would ever log it (the evidence is out of every sweep).
  it.each([
    ['joining for the first time', false, 1],
    ['joining again after leaving, the next stay held', true, 2],
    ['joining again after leaving, the first write held', true, 1],
  ])(
    '%s: the stay starts after the evidence, or the evidence is logged',
    async (_what, before, nth) => {
      const { tenant, api } = await tenantWithApi();
      const user = userId();
      if (before) {
        await api.join(Q, user);
        await api.leave(Q, user);
      }
      const hold = holdJoinWrite(user, nth);
      try {
        const join = api.join(Q, user);
        await hold.held;
        // Poll until the clock has moved past the join's reading (taken before its write was held).
        const heldAt = Date.now();
        while (Date.now() <= heldAt + 1) await new Promise((resolve) => setImmediate(resolve));
        const event = await api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'late' });
        expect(event.status).toBe(202);
        hold.release();
        expect((await join).json.created).toBe(true);
      } finally {
        hold.remove();
      }
      await runSchedules(tenant);
      await expectConversionsMatchStays(tenant.tenantId, Q, user, SIGNED);
    },
  );

  it('evidence for a user who never joined leaves a fence that expires; the stay a later join starts does not', async () => {
    const { tenant, api } = await tenantWithApi();
    const user = userId();
    // The raw member item (the store hides a fence-only item and the TTL attribute).
    const raw = async () =>
      (
        await ddb.send(
          new GetCommand({
            TableName: tableName('ledger'),
            Key: keys.member(tenant.tenantId, Q, user),
            ConsistentRead: true,
          }),
        )
      ).Item;
    await api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'before-any-stay' });
    const fence = await raw();
    expect(fence?.stayNo).toBeUndefined();
    expect(fence?.expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect(fence?.expiresAt).toBeLessThanOrEqual(Date.now() / 1000 + FENCE_TTL_SECONDS);
    expect((await api.join(Q, user)).json.created).toBe(true);
    const member = await raw();
    expect(member?.stayNo).toBe(1);
    expect(member?.expiresAt).toBeUndefined();
    expect(member?.joinedAt > String(fence?.noStayThrough)).toBe(true);
  });

  it('raced: delayed joins, events and validations in random orders → conversions exactly for the stays that hold the evidence', async () => {
    const random = seededRandom(26_007);
    const undelay = delayJoinWrites(() => Math.floor(random() * 25));
    try {
      await raceJoinWithEvidence((trial) => trial % 2 === 0);
    } finally {
      undelay();
    }
  });
});

describe('tenants are isolated', () => {
  it("another tenant's key sees and changes nothing of this tenant's queues and conversions", async () => {
    const a = await tenantWithApi();
    const b = await tenantWithApi();
    const user = userId();
    await a.api.join(Q, user);
    // B acts on the same user id: its own queue and evidence, nothing of A's.
    expect((await b.api.leave(Q, user)).status).toBe(404);
    expect((await b.api.members(Q)).json.members).toEqual([]);
    await b.api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'x' });
    expect((await b.api.validate(Q, { userIds: [user] })).json.removed).toEqual([]);
    expect(await conversionsOf(a.tenant.tenantId, user)).toEqual([]);
    expect((await a.api.members(Q)).json.members).toHaveLength(1);
    await a.api.event(user, { type: SIGNED, occurredAt: now(), eventId: 'x' });
    expect(await conversionsOf(a.tenant.tenantId, user)).toHaveLength(1);
    expect((await b.api.conversions({ userId: user })).json.conversions).toEqual([]);
    expect((await b.api.conversions()).json.conversions).toEqual([]);
    const aList = await a.api.conversions({ userId: user });
    expect(aList.json.conversions).toHaveLength(1);
  });
});

describe('bad input → 4xx, nothing written', () => {
  it('refuses bad ids, bodies, times, filters and cursors', async () => {
    const { tenant, api } = await tenantWithApi();
    const long = 'x'.repeat(257);
    expect((await api.join(Q, long)).status).toBe(400);
    expect((await api.join(long, 'u1')).status).toBe(400);
    expect((await api.join(Q, 'a#b')).status).toBe(400);
    expect((await api.event(long, { type: SIGNED, occurredAt: now() })).status).toBe(400);
    const user = userId();
    await api.join(Q, user);
    for (const body of [
      {},
      { type: SIGNED },
      { type: SIGNED, occurredAt: 'yesterday' },
      { type: SIGNED, occurredAt: '2026-02-30T00:00:00Z' },
      { type: SIGNED, occurredAt: '2026-11-22T05:19:55' },
      { type: '', occurredAt: now() },
      { type: SIGNED, occurredAt: now(), eventId: long },
      { type: SIGNED, occurredAt: now(), extra: 1 },
    ]) {
      const answer = await api.event(user, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.code).toBe('invalid_request');
    }
    expect((await api.event(user, 'not json')).status).toBe(400);
    expect((await api.leave(Q, user, {})).status).toBe(400);
    expect((await api.validate(Q, { userIds: [] })).status).toBe(400);
    expect((await api.validate(Q, { userIds: Array(501).fill('u') })).status).toBe(400);
    expect((await api.validate(Q, { userIds: [long] })).status).toBe(400);
    expect((await api.conversions({ source: 'nobody' })).status).toBe(400);
    expect((await api.conversions({ cursor: 'bm90IGEgY3Vyc29y' })).status).toBe(400);
    expect((await api.members(Q, 'e30')).status).toBe(400);
    // Nothing was written by any of them: the user is still in, with no conversion.
    expect((await api.members(Q)).json.members).toHaveLength(1);
    expect(await conversionsOf(tenant.tenantId, user)).toEqual([]);
    expect((await ledgerApi('of_key_wrong').members(Q)).status).toBe(401);
  });

  it("a cursor from another tenant's listing is 400", async () => {
    const a = await tenantWithApi();
    const b = await tenantWithApi();
    for (let i = 0; i < 3; i++) {
      const u = userId();
      await a.api.join(Q, u);
      await a.api.event(u, { type: SIGNED, occurredAt: now() });
    }
    const { DynamoDbLedgerStore } = await import('../../../functions/ledger/index.js');
    const { ddb } = await import('../../../functions/kernel/clients.js');
    const { tableName } = await import('../../../functions/kernel/config.js');
    const page = await new DynamoDbLedgerStore(ddb, tableName('ledger')).conversionsOfTenant(
      a.tenant.tenantId,
      {},
      undefined,
      1,
    );
    expect(page.nextCursor).toBeTruthy();
    expect((await b.api.conversions({ cursor: page.nextCursor as string })).status).toBe(400);
    expect((await a.api.conversions({ cursor: page.nextCursor as string })).status).toBe(200);
  });
});
