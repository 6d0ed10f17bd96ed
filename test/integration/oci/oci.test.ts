/**
 * Offline conversions to Google Ads, against DynamoDB Local and the Google Ads simulator: one
 * conversion per session whatever the seals race, exports that never share a row, acks that are
 * harmless twice, tenants that cannot touch each other, stale rows recovered with the clock seam,
 * API mode counted once per session through every fault, retractions once.
 */
import { randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { type Conversion, orderIdFor } from '../../../functions/oci/model.js';
import { DynamoOciStore } from '../../../functions/oci/oci-store.js';
import { raceTrials } from '../../support/race.js';
import {
  ack,
  advanceSeconds,
  clickTime,
  createOciTenant,
  exportRowsCall,
  googleSim,
  listAll,
  listPage,
  makeCalls,
  type OciTenant,
  postCall,
  retract,
  runSchedule,
  scriptRun,
  seal,
} from './oci-support.js';

async function inChunks<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}

describe('calls and seals', () => {
  it('ten calls of one session sealed concurrently → one conversion, the same answer to all', async () => {
    await raceTrials({
      trials: 25,
      parallelTrials: 5,
      maxStaggerMs: 5,
      setup: async () => {
        const tenant = await createOciTenant('script');
        const [calls] = await makeCalls(tenant, 1, 10);
        return { tenant, calls: calls as string[] };
      },
      contenders: ({ tenant, calls }) => calls.map((callId) => () => seal(tenant, callId)),
      check: async ({ tenant }, outcomes) => {
        const answers = outcomes.map((o) => {
          if (o.status !== 'fulfilled') throw new Error(`a seal threw: ${String(o.reason)}`);
          const result = o.value as { status: number; json: Record<string, unknown> };
          expect(result.status).toBe(200);
          return result.json;
        });
        expect(answers.filter((a) => a.enqueued === true)).toHaveLength(1);
        expect(
          answers.filter((a) => a.enqueued === false && a.reason === 'duplicate_session'),
        ).toHaveLength(9);
        expect(new Set(answers.map((a) => a.conversionId)).size).toBe(1);
        expect(new Set(answers.map((a) => a.orderId)).size).toBe(1);
        const listed = await listAll(tenant);
        expect(listed).toHaveLength(1);
        expect(listed[0]?.conversionId).toBe(answers[0]?.conversionId);
      },
    });
  });

  it('1,000 sessions × 3 calls sealed concurrently → 1,000 conversions', {
    timeout: 120_000,
  }, async () => {
    const tenant = await createOciTenant('script');
    const occurredAt = clickTime();
    const sessions = Array.from({ length: 1000 }, (_, i) => ({
      sessionId: `bulk-${i}-${randomUUID().slice(0, 6)}`,
      gclid: `Cj0K${randomUUID().replaceAll('-', '')}`,
    }));
    const calls = sessions.flatMap((s) =>
      [0, 1, 2].map((c) => ({ ...s, callId: `${s.sessionId}-c${c}` })),
    );
    // The calls are set up through the store (the route is tested elsewhere); the seals race.
    const store = new DynamoOciStore(ddb, tableName('conversions'));
    await inChunks(calls, 200, (c) =>
      store.createCall({
        tenantId: tenant.tenantId,
        callId: c.callId,
        sessionId: c.sessionId,
        clickKind: 'gclid',
        clickId: c.gclid,
        source: 'click',
        occurredAt,
        createdAt: occurredAt,
      }),
    );
    // "Approve all" on every session: a session's three seals start together, 60 sessions in
    // flight at a time, in a shuffled session order.
    const order = [...sessions].sort(() => Math.random() - 0.5);
    const answers: Array<Record<string, unknown>> = [];
    await inChunks(order, 60, async (s) => {
      const results = await Promise.all([0, 1, 2].map((c) => seal(tenant, `${s.sessionId}-c${c}`)));
      for (const r of results) {
        expect(r.status).toBe(200);
        answers.push({ ...r.json, sessionId: s.sessionId });
      }
    });
    expect(answers.filter((a) => a.enqueued === true)).toHaveLength(1000);
    const listed = await listAll(tenant);
    expect(listed).toHaveLength(1000);
    expect(new Set(listed.map((c) => c.sessionId)).size).toBe(1000);
    // Every seal of a session named that session's one conversion.
    const bySession = new Map(listed.map((c) => [c.sessionId, c.conversionId]));
    for (const a of answers) expect(a.conversionId).toBe(bySession.get(a.sessionId as string));
  });

  it('orderId is derived from tenant and session: deterministic, ≤ 64 chars, no ids inside', async () => {
    const tenant = await createOciTenant('script');
    const [calls] = await makeCalls(tenant, 1, 1);
    const callId = (calls as string[])[0] as string;
    const sessionId = callId.replace(/-c0$/, '');
    const answer = (await seal(tenant, callId)).json;
    expect(answer.orderId).toBe(orderIdFor(tenant.tenantId, sessionId));
    expect(answer.orderId).toMatch(/^[A-Za-z0-9]{1,64}$/);
    expect(answer.orderId).not.toContain(sessionId);
    expect(orderIdFor(`${tenant.tenantId}x`, sessionId)).not.toBe(answer.orderId);
  });

  it('a call is idempotent by callId; a different body for it is 409', async () => {
    const tenant = await createOciTenant('script');
    const body = {
      callId: 'c-1',
      sessionId: 's-1',
      gclid: 'Cj0Kabc',
      source: 'click',
      occurredAt: clickTime(),
    };
    expect((await postCall(tenant, body)).status).toBe(201);
    const again = await postCall(tenant, body);
    expect(again.status).toBe(200);
    expect(again.json.gclid).toBe('Cj0Kabc');
    const other = await postCall(tenant, { ...body, sessionId: 's-2' });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('conflict');
  });

  it('bad input → 4xx with the contract shape, nothing written', async () => {
    const tenant = await createOciTenant('script');
    const base = { callId: 'c-bad', sessionId: 's-bad', source: 'click', occurredAt: clickTime() };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, gclid: 'x', callId: 'c'.repeat(257) }, 'callId'],
      [{ ...base, gclid: 'x', sessionId: '' }, 'sessionId'],
      [{ ...base, gbraid: 'a', wbraid: 'b' }, 'gbraid+wbraid'],
      [{ ...base }, 'gclid'],
      [{ ...base, gclid: 'x', occurredAt: 'yesterday' }, 'occurredAt'],
      [{ ...base, gclid: 'x', extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const r = await postCall(tenant, body);
      expect(r.status, field).toBe(400);
      expect(r.json.error.code).toBe('invalid_request');
      expect(JSON.stringify(r.json.error.details)).toContain(field);
    }
    expect((await postCall(tenant, { ...base, gclid: 'x' })).status).toBe(201);
    const early = await seal(tenant, 'c-bad', {
      conversionTime: new Date(Date.parse(base.occurredAt) - 1000).toISOString(),
    });
    expect(early.status).toBe(400);
    expect(early.json.error.details[0].field).toBe('conversionTime');
    expect((await seal(tenant, 'c-bad', { currency: 'dollars' })).status).toBe(400);
    expect((await seal(tenant, 'c-bad', { value: -1 })).status).toBe(400);
    expect((await seal(tenant, 'missing-call')).status).toBe(404);
    expect(await listAll(tenant)).toHaveLength(0);
    expect((await exportRowsCall(tenant.exportToken, { limit: '2001' })).status).toBe(400);
    expect((await exportRowsCall(tenant.apiKey)).status).toBe(401);
  });
});

async function sealedSessions(tenant: OciTenant, sessions: number, callsPerSession = 2) {
  const groups = await makeCalls(tenant, sessions, callsPerSession);
  const orderIds: string[] = [];
  for (const calls of groups) {
    const answers = await Promise.all(calls.map((c) => seal(tenant, c)));
    orderIds.push(answers[0]?.json.orderId);
  }
  return { groups, orderIds };
}

describe('script mode: export and ack', () => {
  it('concurrent exports never return the same row', async () => {
    await raceTrials({
      trials: 10,
      maxStaggerMs: 3,
      setup: async () => {
        const tenant = await createOciTenant('script');
        const { orderIds } = await sealedSessions(tenant, 30, 1);
        return { tenant, orderIds };
      },
      contenders: ({ tenant }) =>
        [0, 1, 2, 3].map(() => () => exportRowsCall(tenant.exportToken, { limit: '12' })),
      check: async ({ tenant, orderIds }, outcomes) => {
        const exported = outcomes.flatMap((o) => {
          if (o.status !== 'fulfilled') throw new Error(String(o.reason));
          const r = o.value as { status: number; json: { rows: Array<{ orderId: string }> } };
          expect(r.status).toBe(200);
          return r.json.rows.map((row) => row.orderId);
        });
        // Disjoint: no orderId in two exports.
        expect(new Set(exported).size).toBe(exported.length);
        expect(exported.length).toBeGreaterThan(0);
        const byOrder = new Map((await listAll(tenant)).map((c) => [c.orderId, c]));
        for (const orderId of exported) {
          expect(byOrder.get(orderId)?.status).toBe('processing');
          expect(byOrder.get(orderId)?.attempts).toBe(1);
        }
        // An export may come back short (its candidates were claimed by the others), never lose
        // a row: the next export returns exactly the rest.
        const rest = (await exportRowsCall(tenant.exportToken, { limit: '100' })).json.rows.map(
          (row: { orderId: string }) => row.orderId,
        );
        expect([...exported, ...rest].sort()).toEqual([...orderIds].sort());
      },
    });
  });

  it('JSON and CSV in Google formats; acks map Google errors; a second ack changes nothing', async () => {
    const tenant = await createOciTenant('script');
    const occurredAt = '2026-11-22T05:00:00.000Z';
    for (const [i, click] of [
      ['gclid', 'Cj0Kone'],
      ['gbraid', 'GBtwo'],
      ['gclid', 'Cj0Kthree'],
      ['gclid', 'Cj0Kfour'],
    ].entries()) {
      await postCall(tenant, {
        callId: `c${i}`,
        sessionId: `s${i}`,
        [click[0] as string]: click[1],
        source: 'click',
        occurredAt,
      });
      await seal(tenant, `c${i}`, { conversionTime: '2026-11-22T05:19:55.000Z', value: 10.5 });
    }
    const csv = await exportRowsCall(tenant.exportToken, { format: 'csv', limit: '2' });
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toBe('Parameters:TimeZone=+0000');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(
      /^Google Click ID,(GBRAID,WBRAID,)?Conversion Name,Conversion Time,Conversion Value,Conversion Currency,Order ID$/,
    );
    expect(lines[2]).toContain('2026-11-22 05:19:55,');
    const json = await exportRowsCall(tenant.exportToken);
    expect(json.json.rows).toHaveLength(2);
    expect(json.json.rows[0].conversionTime).toBe('2026-11-22 05:19:55+00:00');
    const orders = (await listAll(tenant)).map((c) => c.orderId);
    const [a, b, c, d] = orders as [string, string, string, string];
    const results = [
      { orderId: a, status: 'failed', error: 'ORDER_ID_ALREADY_IN_USE' },
      { orderId: b, status: 'failed', error: 'TOO_RECENT_EVENT' },
      { orderId: c, status: 'failed', error: 'UNPARSEABLE_GCLID' },
      { orderId: d, status: 'completed' },
    ];
    const first = await ack(tenant.exportToken, { results });
    expect(first.json).toEqual({ updated: 4 });
    const second = await ack(tenant.exportToken, { results });
    expect(second.json).toEqual({ updated: 0 });
    const byOrder = new Map((await listAll(tenant)).map((x) => [x.orderId, x]));
    expect(byOrder.get(a)?.status).toBe('completed');
    expect(byOrder.get(b)?.status).toBe('retry');
    expect(byOrder.get(c)?.status).toBe('failed');
    expect(byOrder.get(c)?.lastError).toBe('UNPARSEABLE_GCLID');
    expect(byOrder.get(d)?.status).toBe('completed');
    // The too-recent row waits 6 hours.
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(0);
    advanceSeconds(5 * 3600);
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(0);
    advanceSeconds(3600 + 1);
    const later = await exportRowsCall(tenant.exportToken);
    expect(later.json.rows.map((r: { orderId: string }) => r.orderId)).toEqual([b]);
  });

  it("another tenant's token or ids change nothing", async () => {
    const owner = await createOciTenant('script');
    const other = await createOciTenant('script');
    const { groups, orderIds } = await sealedSessions(owner, 3, 1);
    expect((await exportRowsCall(other.exportToken)).json.rows).toHaveLength(0);
    const exported = await exportRowsCall(owner.exportToken);
    expect(exported.json.rows).toHaveLength(3);
    const foreignAck = await ack(other.exportToken, {
      results: orderIds.map((orderId) => ({ orderId, status: 'completed' })),
    });
    expect(foreignAck.json).toEqual({ updated: 0 });
    expect((await listAll(owner)).every((c) => c.status === 'processing')).toBe(true);
    const conversionId = (await listAll(owner))[0]?.conversionId as string;
    expect((await retract(other, conversionId)).status).toBe(404);
    expect((await seal(other, (groups[0] as string[])[0] as string)).status).toBe(404);
    expect(await listAll(other)).toHaveLength(0);
    expect((await ack(owner.apiKey, { results: [] })).status).toBe(401);
  });

  it("the listing pages through every conversion; another tenant's or a forged cursor is a 400", async () => {
    // Prepare: 101 conversions, one more than a page holds.
    const owner = await createOciTenant('script');
    const other = await createOciTenant('script');
    const { orderIds } = await sealedSessions(owner, 101, 1);

    // Act
    const first = await listPage(owner);
    const second = await listPage(owner, first.json.nextCursor);
    const foreign = await listPage(other, first.json.nextCursor);
    const forged = await listPage(owner, Buffer.from('{"pk":"x"}').toString('base64url'));

    // Assess
    expect(first.json.conversions).toHaveLength(100);
    expect(typeof first.json.nextCursor).toBe('string');
    const listed = [...first.json.conversions, ...second.json.conversions].map(
      (c: { orderId: string }) => c.orderId,
    );
    expect(new Set(listed)).toEqual(new Set(orderIds));
    expect(second.json.nextCursor).toBeNull();
    for (const refused of [foreign, forged]) {
      expect(refused.status).toBe(400);
      expect(refused.json.error.code).toBe('invalid_request');
      expect(refused.json.error.details[0].field).toBe('cursor');
    }
  });

  it('rows exported and never acked return to retry after the stale window, same orderIds', async () => {
    const tenant = await createOciTenant('script');
    const { orderIds } = await sealedSessions(tenant, 4, 1);
    expect(await scriptRun(tenant, { crashBeforeAck: true })).toBe(4);
    await runSchedule('recover');
    expect((await listAll(tenant)).every((c) => c.status === 'processing')).toBe(true);
    advanceSeconds(901);
    await runSchedule('recover');
    const listed = await listAll(tenant);
    expect(listed.every((c) => c.status === 'retry' && c.lastError === 'LEASE_EXPIRED')).toBe(true);
    expect(await scriptRun(tenant)).toBe(4);
    const after = await listAll(tenant);
    expect(after.every((c) => c.status === 'completed' && c.attempts === 2)).toBe(true);
    const ledger = await (await googleSim()).ledger();
    const counted = ledger.counted.filter((c) => c.customerId === tenant.customerId);
    expect(counted.map((c) => c.orderId).sort()).toEqual([...orderIds].sort());
    const received = ledger.received.filter((r) => r.customerId === tenant.customerId);
    expect(received).toHaveLength(8);
    expect(received.filter((r) => r.outcome === 'ORDER_ID_ALREADY_IN_USE')).toHaveLength(4);
  });
});

describe('API mode', () => {
  it('every fault at once → the simulator counts exactly one conversion per session', {
    timeout: 120_000,
  }, async () => {
    const s = await googleSim();
    const tenant = await createOciTenant('api');
    const { groups, orderIds } = await sealedSessions(tenant, 40, 3);
    expect(groups).toHaveLength(40);
    const listedBefore = await listAll(tenant);
    const clickOf = async (orderId: string) => {
      const c = listedBefore.find((x) => x.orderId === orderId);
      return c?.callId;
    };
    expect(await clickOf(orderIds[0] as string)).toBeDefined();
    await s.faults({
      errorRate: 0.2,
      lostResponseRate: 0.2,
      quotaExceededRate: 0.15,
      latencyMs: 5,
    });
    try {
      for (let round = 0; round < 60; round++) {
        await runSchedule('upload');
        await runSchedule('recover');
        const listed = await listAll(tenant);
        if (listed.every((c) => c.status === 'completed')) break;
        advanceSeconds(3601);
      }
    } finally {
      await s.clearFaults();
    }
    const listed = await listAll(tenant);
    expect(listed.filter((c) => c.status !== 'completed')).toEqual([]);
    const ledger = await s.ledger();
    const counted = ledger.counted.filter((c) => c.customerId === tenant.customerId);
    expect(counted).toHaveLength(40);
    expect(new Set(counted.map((c) => c.orderId))).toEqual(new Set(orderIds));
  });

  it('too-recent clicks wait 6 hours, unknown clicks fail with the code, batches ≤ 2,000', async () => {
    const s = await googleSim();
    const tenant = await createOciTenant('api');
    const occurredAt = clickTime();
    const clicks = ['Cj0Krecent', 'Cj0Kunknown', 'Cj0Kfine'].map(
      (c) => `${c}${randomUUID().slice(0, 6)}`,
    );
    for (const [i, gclid] of clicks.entries()) {
      await postCall(tenant, {
        callId: `c${i}`,
        sessionId: `s${i}`,
        gclid,
        source: 'click',
        occurredAt,
      });
      await seal(tenant, `c${i}`);
    }
    await s.faults({ tooRecentClickIds: [clicks[0]], unknownClickIds: [clicks[1]] });
    try {
      await runSchedule('upload');
      let byCall = new Map((await listAll(tenant)).map((c) => [c.callId, c]));
      expect(byCall.get('c0')?.status).toBe('retry');
      expect(byCall.get('c0')?.lastError).toBe('TOO_RECENT_EVENT');
      expect(byCall.get('c1')?.status).toBe('failed');
      expect(byCall.get('c1')?.lastError).toBe('UNPARSEABLE_GCLID');
      expect(byCall.get('c2')?.status).toBe('completed');
      advanceSeconds(3 * 3600);
      await runSchedule('upload');
      byCall = new Map((await listAll(tenant)).map((c) => [c.callId, c]));
      expect(byCall.get('c0')?.attempts).toBe(1);
      advanceSeconds(3 * 3600 + 1);
      await runSchedule('upload');
      byCall = new Map((await listAll(tenant)).map((c) => [c.callId, c]));
      expect(byCall.get('c0')?.status).toBe('completed');
    } finally {
      await s.clearFaults();
    }
  });
});

describe('retractions', () => {
  it('API mode: retracted at Google exactly once, after 24 hours; retract is idempotent', async () => {
    const s = await googleSim();
    const tenant = await createOciTenant('api');
    const { orderIds } = await sealedSessions(tenant, 2, 1);
    await runSchedule('upload');
    const [target] = (await listAll(tenant)).filter((c) => c.orderId === orderIds[0]);
    const conversionId = target?.conversionId as string;
    const first = await retract(tenant, conversionId);
    expect(first.status).toBe(202);
    expect(first.json.retraction).toBe('queued');
    const again = await retract(tenant, conversionId);
    expect(again.status).toBe(202);
    expect(again.json.retraction).toBe('queued');
    await runSchedule('upload');
    expect((await s.ledger()).retracted).not.toContain(orderIds[0]);
    advanceSeconds(24 * 3600 + 1);
    await runSchedule('upload');
    await runSchedule('upload');
    expect((await retract(tenant, conversionId)).json.retraction).toBe('completed');
    const ledger = await s.ledger();
    expect(ledger.retracted.filter((o) => o === orderIds[0])).toHaveLength(1);
    expect(ledger.retracted).not.toContain(orderIds[1]);
    const listed = await listAll(tenant);
    expect(listed.find((c) => c.conversionId === conversionId)?.retractedAt).not.toBeNull();
  });

  it('a conversion not yet uploaded is withdrawn and never uploaded', async () => {
    const s = await googleSim();
    const tenant = await createOciTenant('api');
    const { orderIds } = await sealedSessions(tenant, 1, 1);
    const conversionId = (await listAll(tenant))[0]?.conversionId as string;
    const answer = await retract(tenant, conversionId);
    expect(answer.json.retraction, answer.text).toBe('withdrawn');
    await runSchedule('upload');
    const ledger = await s.ledger();
    expect(ledger.received.map((r) => r.orderId)).not.toContain(orderIds[0]);
    expect((await listAll(tenant))[0]?.status).toBe('withdrawn');
  });

  it('script mode: the retraction is exported as an adjustment row once, acked once', async () => {
    const tenant = await createOciTenant('script');
    const { orderIds } = await sealedSessions(tenant, 1, 1);
    await scriptRun(tenant);
    const conversionId = (await listAll(tenant))[0]?.conversionId as string;
    await retract(tenant, conversionId);
    await retract(tenant, conversionId);
    expect(
      (await exportRowsCall(tenant.exportToken, { kind: 'adjustments' })).json.rows,
    ).toHaveLength(0);
    advanceSeconds(24 * 3600 + 1);
    const csv = await exportRowsCall(tenant.exportToken, { kind: 'adjustments', format: 'csv' });
    const lines = csv.text.trim().split('\n');
    expect(lines[1]).toBe(
      'Order ID,Conversion Name,Adjustment Time,Adjustment Type,Adjusted Value,Adjusted Value Currency',
    );
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain(`${orderIds[0]},`);
    expect(lines[2]).toContain(',RETRACT,');
    // The claimed row is processing; let it go stale and run the script for real.
    advanceSeconds(901);
    await runSchedule('recover');
    expect(await scriptRun(tenant, { kind: 'adjustments' })).toBe(1);
    expect(await scriptRun(tenant, { kind: 'adjustments' })).toBe(0);
    const ledger = await (await googleSim()).ledger();
    expect(ledger.retracted.filter((o) => o === orderIds[0])).toHaveLength(1);
    expect((await retract(tenant, conversionId)).json.retraction).toBe('completed');
  });
});

describe('seal under DynamoDB errors no emulator produces', () => {
  const realSend = ddb.send.bind(ddb) as (command: unknown) => Promise<unknown>;
  function conversionFor(tenantId: string, sessionId: string, callId: string): Conversion {
    const now = new Date().toISOString();
    return {
      kind: 'conversion',
      tenantId,
      conversionId: `cv_${randomUUID().replaceAll('-', '')}`,
      orderId: orderIdFor(tenantId, sessionId),
      sessionId,
      callId,
      clickKind: 'gclid',
      clickId: 'Cj0Kx',
      conversionName: 'customers/1234567890/conversionActions/1',
      conversionTime: now,
      value: 1,
      currency: 'USD',
      customerId: '1234567890',
      uploadMode: 'script',
      status: 'queued',
      attempts: 0,
      createdAt: now,
      notBefore: now,
    };
  }

  it('a TransactionConflict is retried; a refusal without the item reads the winner by key', async () => {
    const tenantId = `oci-err-${randomUUID().slice(0, 8)}`;
    let conflicts = 2;
    let stripItems = false;
    const flaky = {
      send: async (command: unknown) => {
        if (command instanceof TransactWriteCommand && conflicts > 0) {
          conflicts -= 1;
          throw new TransactionCanceledException({
            message: 'Transaction cancelled',
            $metadata: {},
            CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
          });
        }
        try {
          return await realSend(command);
        } catch (error) {
          if (stripItems && error instanceof TransactionCanceledException) {
            throw new TransactionCanceledException({
              message: error.message,
              $metadata: {},
              CancellationReasons: (error.CancellationReasons ?? []).map((r) => ({ Code: r.Code })),
            });
          }
          throw error;
        }
      },
    } as unknown as DynamoDBDocumentClient;
    const store = new DynamoOciStore(flaky, tableName('conversions'));
    const first = await store.createConversion(conversionFor(tenantId, 's1', 'c1'));
    expect(first.created).toBe(true);
    expect(conflicts).toBe(0);
    stripItems = true;
    const second = await store.createConversion(conversionFor(tenantId, 's1', 'c2'));
    expect(second.created).toBe(false);
    if (first.created && !second.created) {
      expect(second.existing.conversionId).toBe(first.conversion.conversionId);
      expect(second.existing.callId).toBe('c1');
    }
  });
});
