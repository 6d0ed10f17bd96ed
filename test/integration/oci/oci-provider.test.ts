/**
 * Offline conversions against Google's own rules, on DynamoDB Local and the Google Ads simulator:
 * the requests the uploader sends and the answers the simulator gives validated against Google's
 * protos; Google's int64 job ids kept; API versions as a policy (a sunset version refused before
 * anything is claimed, Google's "no such version" holding the rows); a conversion due no earlier
 * than its click + 6 hours; retractions of conversions Google never counted withdrawing them;
 * retries that end; a lease per upload request, nothing sent past it, two overlapping runs safe;
 * a re-seal answering the real state; click ids in Google's alphabet.
 *
 * The uploader is driven directly (`uploadPending`) over only this file's tenants, so the upload
 * schedules of other test files sharing the tables neither take nor give rows here.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock, systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { type UploadDeps, uploadPending } from '../../../functions/oci/api-upload.js';
import { uploadDeps } from '../../../functions/oci/deps.js';
import {
  type GoogleAdsUploader,
  HttpGoogleAdsUploader,
} from '../../../functions/oci/google-ads-client.js';
import { MAX_NOT_FOUND_ATTEMPTS } from '../../../functions/oci/model.js';
import { DynamoOciStore, type OciStore } from '../../../functions/oci/oci-store.js';
import { recoverStaleRows } from '../../../functions/oci/stale-recovery.js';
import { catalogueMetric } from '../../../lib/metrics-catalogue.js';
import { ads, protoJsonProblems } from '../../support/google-ads-protos.js';
import { raceTrials } from '../../support/race.js';
import {
  ack,
  advanceSeconds,
  clickTime,
  createOciTenant,
  exportRowsCall,
  googleSim,
  listAll,
  type OciTenant,
  postCall,
  retract,
  scriptRun,
  seal,
} from './oci-support.js';

const store = new DynamoOciStore(ddb, tableName('conversions'));

afterEach(async () => {
  vi.restoreAllMocks();
  await (await googleSim()).clearFaults();
});

/** The store as the uploader sees it, proposing only these tenants' rows. */
function onlyTenants(base: OciStore, tenants: readonly OciTenant[]): OciStore {
  const ids = new Set(tenants.map((t) => t.tenantId));
  return new Proxy(base, {
    get(target, property, receiver) {
      if (property === 'pendingCandidates') {
        return async (...args: Parameters<OciStore['pendingCandidates']>) => {
          const found = await target.pendingCandidates(...args);
          return { ...found, read: found.read.filter((c) => ids.has(c.tenantId)) };
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** One uploader run over these tenants' rows, as the schedule would run it. */
async function upload(tenants: readonly OciTenant[], overrides: Partial<UploadDeps> = {}) {
  await googleSim();
  const deps = uploadDeps();
  return uploadPending({ ...deps, store: onlyTenants(deps.store, tenants), ...overrides });
}

/** A Google Ads client speaking `version` to the simulator. */
async function clientFor(version: string): Promise<HttpGoogleAdsUploader> {
  const sim = await googleSim();
  return new HttpGoogleAdsUploader({
    apiBaseUrl: sim.baseUrl,
    apiVersion: version,
    tokenUrl: `${sim.baseUrl}/token`,
    oauth: async () => ({ clientId: 'c', clientSecret: 's', refreshToken: 'r' }),
    developerToken: async () => 'dev-token',
  });
}

interface Sealed {
  readonly callId: string;
  readonly sessionId: string;
  readonly conversionId: string;
  readonly orderId: string;
}

async function sealOne(
  tenant: OciTenant,
  click: Record<string, string> = { gclid: `Cj0K${randomUUID().replaceAll('-', '')}` },
  options: { occurredAt?: string; conversionTime?: string } = {},
): Promise<Sealed> {
  const sessionId = `s-${randomUUID().slice(0, 10)}`;
  const callId = `${sessionId}-c0`;
  const made = await postCall(tenant, {
    callId,
    sessionId,
    ...click,
    source: 'click',
    occurredAt: options.occurredAt ?? clickTime(),
  });
  expect(made.status, made.text).toBe(201);
  const sealed = await seal(
    tenant,
    callId,
    options.conversionTime ? { conversionTime: options.conversionTime } : {},
  );
  expect(sealed.status, sealed.text).toBe(200);
  return {
    callId,
    sessionId,
    conversionId: sealed.json.conversionId,
    orderId: sealed.json.orderId,
  };
}

async function received(orderId: string) {
  return (await (await googleSim()).ledger()).received.filter((r) => r.orderId === orderId);
}

async function conversionRow(tenant: OciTenant, conversionId: string) {
  return store.getRow({ tenantId: tenant.tenantId, conversionId, kind: 'conversion' });
}

function emittedMetrics(): () => string {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  return () => [...out.mock.calls, ...log.mock.calls].map((c) => String(c[0])).join('\n');
}

describe("Google's definitions", () => {
  it("every request the uploader sends and every answer the simulator gives conform to Google's protos", async () => {
    // Prepare: counted rows, a gbraid, a click-level duplicate, an unknown click, a too-recent
    // click, then a retraction; and two requests Google refuses whole.
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const conversionTime = new Date(systemClock.now() - 3600_000).toISOString();
    const shared = { gclid: `Cj0Kshared${randomUUID().slice(0, 8)}` };
    const first = await sealOne(tenant, shared, { conversionTime });
    await sealOne(tenant, shared, { conversionTime });
    await sealOne(tenant, { gbraid: `GB${randomUUID().slice(0, 12)}` });
    const unknown = `Cj0Kunknown${randomUUID().slice(0, 6)}`;
    const recent = `Cj0Krecent${randomUUID().slice(0, 6)}`;
    await sealOne(tenant, { gclid: unknown });
    await sealOne(tenant, { gclid: recent });
    await sim.faults({ unknownClickIds: [unknown], tooRecentClickIds: [recent] });
    const before = (await (await fetch(`${sim.baseUrl}/_sim/google-ads/exchanges`)).json()) as {
      exchanges: unknown[];
    };

    // Act
    await upload([tenant]);
    expect((await retract(tenant, first.conversionId)).status).toBe(202);
    advanceSeconds(24 * 3600 + 1);
    await upload([tenant]);
    for (const body of [
      { conversions: [{ gclid: 'x' }] },
      { conversions: [], partialFailure: true },
    ]) {
      await fetch(`${sim.baseUrl}/v25/customers/${tenant.customerId}:uploadClickConversions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer t',
          'developer-token': 'd',
        },
        body: JSON.stringify(body),
      });
    }

    // Assess
    const { exchanges } = (await (
      await fetch(`${sim.baseUrl}/_sim/google-ads/exchanges`)
    ).json()) as {
      exchanges: Array<{ operation: string; status: number; request: unknown; response: string }>;
    };
    const mine = exchanges.slice(before.exchanges.length);
    expect(mine.length).toBeGreaterThanOrEqual(4);
    const problems: string[] = [];
    let partialFailures = 0;
    for (const exchange of mine) {
      const name =
        exchange.operation === 'uploadClickConversions'
          ? 'UploadClickConversions'
          : 'UploadConversionAdjustments';
      problems.push(...protoJsonProblems(ads(`services.${name}Request`), exchange.request));
      const answer = JSON.parse(exchange.response) as Record<string, unknown>;
      if (exchange.status === 200) {
        problems.push(...protoJsonProblems(ads(`services.${name}Response`), answer));
        if (answer.partialFailureError) partialFailures += 1;
        expect(BigInt(answer.jobId as string) >= 2n ** 31n).toBe(true);
      } else {
        const error = answer.error as { details?: unknown[] };
        expect(error.details?.length).toBeGreaterThan(0);
        for (const detail of error.details ?? []) {
          problems.push(...protoJsonProblems('google.protobuf.Any', detail));
        }
      }
    }
    expect(problems).toEqual([]);
    expect(partialFailures).toBeGreaterThanOrEqual(1);
  });

  it("Google's int64 job id is kept as a string: the rows complete, carrying it digit for digit", async () => {
    // Prepare
    const tenant = await createOciTenant('api');
    await sealOne(tenant);
    await sealOne(tenant);

    // Act
    await upload([tenant]);

    // Assess: before, Number(jobId) lost digits past 2^53 and the DynamoDB write threw, so the rows
    // stayed processing and were uploaded again every run.
    const listed = (await listAll(tenant)) as Array<{
      orderId: string;
      status: string;
      jobId?: string;
    }>;
    expect(listed.map((c) => c.status)).toEqual(['completed', 'completed']);
    const counted = (await (await googleSim()).ledger()).counted as unknown as Array<{
      orderId: string;
      jobId: string;
    }>;
    for (const c of listed) {
      expect(c.jobId).toBe(counted.find((x) => x.orderId === c.orderId)?.jobId);
      expect(BigInt(c.jobId as string) >= 2n ** 31n).toBe(true);
    }
  });
});

describe('API versions as a policy', () => {
  it('a version past its sunset is refused before anything is claimed, and ProviderVersionRejected moves', async () => {
    // Prepare
    const tenant = await createOciTenant('api');
    const sealed = await sealOne(tenant);
    const metrics = emittedMetrics();

    // Act
    const report = await upload([tenant], { apiVersion: 'v22' });

    // Assess
    expect(report).toMatchObject({ versionRejected: true, claimed: 0, requests: 0 });
    const row = await conversionRow(tenant, sealed.conversionId);
    expect(row).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await received(sealed.orderId)).toEqual([]);
    expect(metrics()).toContain('"ProviderVersionRejected"');
  });

  it("Google's 404 for a version holds the rows an hour (not spun), stops the run, and moves ProviderVersionRejected", async () => {
    // Prepare: two customers, so the run has two requests to make.
    const tenants = [await createOciTenant('api'), await createOciTenant('api')];
    const sealed = [await sealOne(tenants[0] as OciTenant), await sealOne(tenants[1] as OciTenant)];
    const sunset = await clientFor('v21');
    const metrics = emittedMetrics();

    // Act
    const report = await upload(tenants, { google: sunset });
    const again = await upload(tenants, { google: sunset });

    // Assess: one request went, its row is held; the other customer's row was not even claimed.
    expect(report).toMatchObject({ versionRejected: true, requests: 1, claimed: 1 });
    const rows = await Promise.all(
      sealed.map((s, i) => conversionRow(tenants[i] as OciTenant, s.conversionId)),
    );
    const held = rows.find((r) => r?.status === 'retry');
    expect(held?.lastError).toBe('PROVIDER_VERSION_REJECTED');
    expect(Date.parse(held?.notBefore ?? '')).toBeGreaterThanOrEqual(systemClock.now() + 3_500_000);
    // The next run only tries the row it never claimed, and stops again.
    expect(again).toMatchObject({ versionRejected: true, claimed: 1 });
    expect(metrics()).toContain('"ProviderVersionRejected"');

    // Once the version is fixed, the held rows go after their hour.
    advanceSeconds(3601);
    await upload(tenants);
    for (const s of sealed) expect(await received(s.orderId)).toHaveLength(1);
  });
});

describe('a request Google refuses as a whole is a configuration alarm, never a silent endless retry', () => {
  it.each([
    ['a missing developer token (401)', { developerToken: '' }],
    ['a revoked refresh token (OAuth invalid_grant)', { revoked: true }],
  ])(
    '%s moves GoogleAdsUploadRejected, which has an alarm; the row waits, known uncounted',
    async (_, setup) => {
      // Prepare
      const sim = await googleSim();
      const tenant = await createOciTenant('api');
      const sealed = await sealOne(tenant);
      if ('revoked' in setup) await sim.faults({ oauthRevoked: true });
      const refused = new HttpGoogleAdsUploader({
        apiBaseUrl: sim.baseUrl,
        apiVersion: 'v25',
        tokenUrl: `${sim.baseUrl}/token`,
        oauth: async () => ({ clientId: 'c', clientSecret: 's', refreshToken: 'r' }),
        developerToken: async () => ('developerToken' in setup ? setup.developerToken : 'dev'),
      });
      const metrics = emittedMetrics();

      // Act
      const report = await upload([tenant], { google: refused });

      // Assess: before, both were "unknown" (`UNKNOWN_REQUEST_ERROR`, `UNKNOWN_LOST`) retried every
      // hour at most for good, moving only GoogleAdsUploadUnknown, which has no alarm.
      expect(report).toMatchObject({ requests: 1, unknownBatches: 1 });
      expect(metrics()).toContain('"GoogleAdsUploadRejected"');
      expect(catalogueMetric('GoogleAdsUploadRejected')?.alarm).toBeDefined();
      expect(await conversionRow(tenant, sealed.conversionId)).toMatchObject({
        status: 'retry',
        lastError: 'REQUEST_REFUSED',
      });
      expect(await received(sealed.orderId)).toEqual([]);
      // Google processed nothing: a retraction now is a plain withdrawal, nothing sent.
      expect((await retract(tenant, sealed.conversionId)).json.retraction).toBe('withdrawn');
    },
  );

  it("a row Google refuses for good is OciRowsFailed, not a request refusal (the alarm's metric)", async () => {
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const gclid = `Cj0Kunknown${randomUUID().slice(0, 6)}`;
    const sealed = await sealOne(tenant, { gclid });
    await sim.faults({ unknownClickIds: [gclid] });
    const metrics = emittedMetrics();

    await upload([tenant]);

    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('failed');
    expect(metrics()).toContain('"OciRowsFailed"');
    expect(metrics()).not.toContain('"GoogleAdsUploadRejected"');
  });
});

describe('a sweep index is shared by every tenant', () => {
  it('one malformed entry in the upload index is counted (UnreadableSweepEntry) and skipped: every other row is still uploaded', async () => {
    // Prepare: a good row, and beside it in the same index an entry with no customerId (an item
    // an old deploy or a hand edit left).
    const tenant = await createOciTenant('api');
    const good = await sealOne(tenant);
    const bad = { pk: `MALFORMED#${randomUUID()}`, sk: 'ROW' };
    await ddb.send(
      new PutCommand({
        TableName: tableName('conversions'),
        Item: {
          ...bad,
          sweepPk: `OCI#UPLOAD#conversion#0`,
          sweepAt: '2000-01-01T00:00:00.000Z',
          tenantId: tenant.tenantId,
          conversionId: `bad-${randomUUID()}`,
          kind: 'conversion',
        },
      }),
    );
    const metrics = emittedMetrics();
    try {
      // Act
      await upload([tenant]);

      // Assess: before, the MalformedItemError ended the run, so no tenant's row was uploaded.
      expect((await conversionRow(tenant, good.conversionId))?.status).toBe('completed');
      expect(await received(good.orderId)).toHaveLength(1);
      expect(metrics()).toContain('"UnreadableSweepEntry"');
    } finally {
      await ddb.send(new DeleteCommand({ TableName: tableName('conversions'), Key: bad }));
    }
  });
});

describe('script mode: due times and per-row results', () => {
  it('a conversion is due no earlier than its click + 6 hours', async () => {
    // Prepare: a click an hour ago, sealed now.
    const tenant = await createOciTenant('script');
    await sealOne(tenant, undefined, {
      occurredAt: new Date(systemClock.now() - 3600_000).toISOString(),
    });

    // Act / Assess: Google would refuse it (TOO_RECENT_EVENT) in the bulk upload's results, which
    // the script cannot read; so it is not handed out before click + 6 h.
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(0);
    advanceSeconds(5 * 3600 - 5);
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(0);
    advanceSeconds(10);
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(1);
  });

  it('an ack of `uploaded` never makes a row completed: it is neither exported again nor counted done', async () => {
    // Prepare
    const tenant = await createOciTenant('script');
    const sealed = await sealOne(tenant);
    const exported = await exportRowsCall(tenant.exportToken);
    expect(exported.json.rows).toHaveLength(1);

    // Act
    const acked = await ack(tenant.exportToken, {
      results: [{ orderId: sealed.orderId, status: 'uploaded' }],
    });

    // Assess
    expect(acked.json).toEqual({ updated: 1 });
    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('uploaded');
    advanceSeconds(7 * 3600);
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(0);
    // Google's per-row answer, when someone has it, settles the row.
    await ack(tenant.exportToken, {
      results: [{ orderId: sealed.orderId, status: 'failed', error: 'EXPIRED_EVENT' }],
    });
    expect(await conversionRow(tenant, sealed.conversionId)).toMatchObject({
      status: 'failed',
      lastError: 'EXPIRED_EVENT',
    });
  });
});

describe('script mode: an `uploaded` row has a way out', () => {
  it.each(['TOO_RECENT_CONVERSION_ACTION', 'TOO_RECENT_EVENT'])(
    "Google's per-row %s for an `uploaded` row, acked from the Uploads page, sends it back to retry: exported again 6 hours later",
    async (code) => {
      // Prepare: the script handed the row to Google's bulk upload; the Uploads page later shows
      // Google refused it for now (a conversion action created under 6 hours ago, say).
      const tenant = await createOciTenant('script');
      const sealed = await sealOne(tenant);
      expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(1);
      await ack(tenant.exportToken, { results: [{ orderId: sealed.orderId, status: 'uploaded' }] });

      // Act
      const acked = await ack(tenant.exportToken, {
        results: [{ orderId: sealed.orderId, status: 'failed', error: code }],
      });

      // Assess: before, the answer was dropped (`updated: 0`) and the row stayed `uploaded` for good,
      // never sent again although Google said "try again in 6 hours".
      expect(acked.json).toEqual({ updated: 1 });
      expect(await conversionRow(tenant, sealed.conversionId)).toMatchObject({
        status: 'retry',
        lastError: code,
      });
      advanceSeconds(6 * 3600 + 1);
      const again = await exportRowsCall(tenant.exportToken);
      expect(again.json.rows.map((r: { orderId: string }) => r.orderId)).toEqual([sealed.orderId]);
    },
  );

  it('a bare `retry` (the script could not apply its file) never takes back an `uploaded` row', async () => {
    const tenant = await createOciTenant('script');
    const sealed = await sealOne(tenant);
    await exportRowsCall(tenant.exportToken);
    await ack(tenant.exportToken, { results: [{ orderId: sealed.orderId, status: 'uploaded' }] });

    const acked = await ack(tenant.exportToken, {
      results: [{ orderId: sealed.orderId, status: 'retry' }],
    });

    expect(acked.json).toEqual({ updated: 0 });
    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('uploaded');
  });
});

describe('retractions of conversions Google never counted', () => {
  it('a conversion waiting after TOO_RECENT_EVENT is withdrawn and never uploaded', async () => {
    // Prepare
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const gclid = `Cj0Krecent${randomUUID().slice(0, 8)}`;
    const sealed = await sealOne(tenant, { gclid });
    await sim.faults({ tooRecentClickIds: [gclid] });
    await upload([tenant]);
    expect((await conversionRow(tenant, sealed.conversionId))?.lastError).toBe('TOO_RECENT_EVENT');

    // Act
    const answer = await retract(tenant, sealed.conversionId);
    await sim.clearFaults();
    for (let i = 0; i < 3; i++) {
      advanceSeconds(6 * 3600 + 1);
      await upload([tenant]);
    }

    // Assess: before, the retry row was uploaded 6 hours later and counted.
    expect(answer.json.retraction).toBe('withdrawn');
    expect((await received(sealed.orderId)).map((r) => r.outcome)).toEqual(['TOO_RECENT_EVENT']);
    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('withdrawn');
  });

  it('script mode: a late TOO_RECENT_EVENT ack of an older export cannot pass a conversion Google counted off as uncounted: the retraction still goes', async () => {
    // Prepare: export A's upload met TOO_RECENT_EVENT, but its ack is late; meanwhile the row went
    // stale, export B uploaded it again and Google counted it (B's ack not in yet).
    const sim = await googleSim();
    const tenant = await createOciTenant('script');
    const sealed = await sealOne(tenant);
    expect((await exportRowsCall(tenant.exportToken)).json.rows).toHaveLength(1);
    advanceSeconds(901);
    await recoverStaleRows({ store, clock: systemClock });
    await scriptRun(tenant, { crashBeforeAck: true });
    expect((await received(sealed.orderId)).map((r) => r.outcome)).toEqual(['counted']);

    // Act: A's ack lands on B's claim (an ack names no export), then the operator retracts.
    await ack(tenant.exportToken, {
      results: [{ orderId: sealed.orderId, status: 'failed', error: 'TOO_RECENT_EVENT' }],
    });
    const answer = await retract(tenant, sealed.conversionId);
    advanceSeconds(24 * 3600 + 1);
    for (let i = 0; i < 3; i++) await scriptRun(tenant, { kind: 'adjustments' });

    // Assess: before, the conversion was withdrawn with nothing sent, and Google kept counting it.
    expect(answer.json.retraction).not.toBe('withdrawn');
    expect((await sim.ledger()).retracted).toContain(sealed.orderId);
    expect(await received(sealed.orderId)).toHaveLength(1);
  });

  it('a conversion whose upload outcome is unknown is never uploaded again: only the retraction goes', async () => {
    // Prepare: Google counts it, the answer is lost.
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const sealed = await sealOne(tenant);
    await sim.faults({ lostResponseRate: 1 });
    await upload([tenant]);
    await sim.clearFaults();
    expect((await conversionRow(tenant, sealed.conversionId))?.lastError).toBe('UNKNOWN_LOST');

    // Act
    expect((await retract(tenant, sealed.conversionId)).json.retraction).toBe('queued');
    advanceSeconds(24 * 3600 + 1);
    for (let i = 0; i < 3; i++) {
      await upload([tenant]);
      advanceSeconds(3601);
    }

    // Assess: before, the claim did not look at the retraction: uploaded again, then retracted.
    expect(await received(sealed.orderId)).toHaveLength(1);
    expect((await sim.ledger()).retracted.filter((o) => o === sealed.orderId)).toHaveLength(1);
    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('withdrawn');
    expect((await retract(tenant, sealed.conversionId)).json.retraction).toBe('completed');
  });
});

describe('every retry has an end', () => {
  it('a click-level duplicate is recorded as counted under the other orderId; its retraction closes without sending', async () => {
    // Prepare: two sessions of one click with one conversion time: Google counts the first and
    // answers CLICK_CONVERSION_ALREADY_EXISTS for the second.
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const click = { gclid: `Cj0Ktwice${randomUUID().slice(0, 8)}` };
    const conversionTime = new Date(systemClock.now() - 3600_000).toISOString();
    const first = await sealOne(tenant, click, { conversionTime });
    await upload([tenant]);
    const second = await sealOne(tenant, click, { conversionTime });
    await upload([tenant]);
    expect(await conversionRow(tenant, second.conversionId)).toMatchObject({
      status: 'completed',
      countedUnder: 'click',
    });

    // Act
    await retract(tenant, second.conversionId);
    for (let i = 0; i < 3; i++) {
      advanceSeconds(24 * 3600 + 1);
      await upload([tenant]);
    }

    // Assess: before, the retraction went, met CONVERSION_NOT_FOUND and was retried forever.
    const answer = await retract(tenant, second.conversionId);
    expect(answer.json).toMatchObject({
      retraction: 'completed',
      error: 'COUNTED_UNDER_OTHER_ORDER_ID',
    });
    const ledger = (await sim.ledger()) as unknown as { adjustments: Array<{ orderId: string }> };
    expect(ledger.adjustments.filter((a) => a.orderId === second.orderId)).toEqual([]);
    expect((await sim.ledger()).retracted).not.toContain(first.orderId);
  });

  it(`CONVERSION_NOT_FOUND ends after ${MAX_NOT_FOUND_ATTEMPTS} attempts, failed with the code`, async () => {
    // Prepare
    const tenant = await createOciTenant('script');
    const sealed = await sealOne(tenant);
    await scriptRun(tenant);
    await retract(tenant, sealed.conversionId);
    advanceSeconds(24 * 3600 + 1);

    // Act: Google keeps answering CONVERSION_NOT_FOUND.
    let rounds = 0;
    for (; rounds < 3 * MAX_NOT_FOUND_ATTEMPTS; rounds++) {
      const exported = await exportRowsCall(tenant.exportToken, { kind: 'adjustments' });
      if (exported.json.rows.length === 0) break;
      await ack(tenant.exportToken, {
        kind: 'adjustments',
        results: [{ orderId: sealed.orderId, status: 'failed', error: 'CONVERSION_NOT_FOUND' }],
      });
      advanceSeconds(6 * 3600 + 1);
    }

    // Assess
    expect(rounds).toBe(MAX_NOT_FOUND_ATTEMPTS);
    expect((await retract(tenant, sealed.conversionId)).json).toMatchObject({
      retraction: 'failed',
      error: 'CONVERSION_NOT_FOUND',
    });
  });
});

describe('a lease per upload request', () => {
  it('with four customers answering in 25 s each, no row is sent past its lease and none twice', async () => {
    // Prepare: one row per customer; every Google answer takes 25 s on the clock seam, and the
    // stale recovery runs meanwhile, as its minute schedule would.
    const tenants = await Promise.all([0, 1, 2, 3].map(() => createOciTenant('api')));
    const sealed = await Promise.all(tenants.map((t) => sealOne(t)));
    const real = await clientFor('v25');
    const violations: string[] = [];
    const slow: GoogleAdsUploader = {
      async upload(operation, customerId, rows, timeoutMs) {
        const tenant = tenants.find((t) => t.customerId === customerId) as OciTenant;
        const sentAt = systemClock.now();
        for (const r of rows) {
          const session = await store.getSession(tenant.tenantId, String(r.orderId));
          const row = await conversionRow(tenant, session?.conversionId ?? '');
          if (row?.status !== 'processing' || (row.leaseExpiresAt ?? 0) < sentAt + timeoutMs) {
            violations.push(
              `${r.orderId}: ${row?.status}, lease ${row?.leaseExpiresAt}, call ends ${sentAt + timeoutMs}`,
            );
          }
        }
        advanceSystemClock(25_000);
        await recoverStaleRows({ store, clock: systemClock });
        return real.upload(operation, customerId, rows, timeoutMs);
      },
    };

    // Act: a run, then the next minute's run.
    await upload(tenants, { google: slow, leaseSeconds: 60 });
    await recoverStaleRows({ store, clock: systemClock });
    await upload(tenants, { google: slow, leaseSeconds: 60 });

    // Assess: before, one 60 s lease covered all four requests: the third was sent 50 s in with a
    // 30 s timeout, the fourth after the recovery had taken its row back.
    expect(violations).toEqual([]);
    for (const s of sealed) expect(await received(s.orderId)).toHaveLength(1);
    for (const t of tenants) expect((await listAll(t))[0]?.status).toBe('completed');
  });

  it('the call bound covers the whole call: a request whose time ran out while the client fetched its credentials is not sent', async () => {
    // Prepare: a 2 s lease gives the call 1 s; the developer token (Secrets Manager) takes 1.5 s.
    const sim = await googleSim();
    const tenant = await createOciTenant('api');
    const sealed = await sealOne(tenant);
    const slowSecrets = new HttpGoogleAdsUploader({
      apiBaseUrl: sim.baseUrl,
      apiVersion: 'v25',
      tokenUrl: `${sim.baseUrl}/token`,
      oauth: async () => ({ clientId: 'c', clientSecret: 's', refreshToken: 'r' }),
      developerToken: () => new Promise((resolve) => setTimeout(() => resolve('dev'), 1500)),
    });

    // Act
    const report = await upload([tenant], { google: slowSecrets, leaseSeconds: 2 });

    // Assess: before, the token fetch and the request each had the full 1 s, and the secret none
    // at all, so the request went 1.5 s in, past its bound (and with a short lease, past the lease).
    expect(report).toMatchObject({ requests: 1, unknownBatches: 1, completed: 0 });
    expect(await received(sealed.orderId)).toEqual([]);
    expect((await conversionRow(tenant, sealed.conversionId))?.status).toBe('retry');
  });

  it('two uploader runs at once send every row once', async () => {
    await raceTrials({
      trials: 6,
      maxStaggerMs: 20,
      setup: async () => {
        const tenants = [await createOciTenant('api'), await createOciTenant('api')];
        const sealed: Sealed[] = [];
        for (const t of tenants) for (let i = 0; i < 4; i++) sealed.push(await sealOne(t));
        return { tenants, sealed };
      },
      contenders: ({ tenants }) => [() => upload(tenants), () => upload(tenants)],
      check: async ({ tenants, sealed }, outcomes) => {
        for (const o of outcomes) expect(o.status).toBe('fulfilled');
        for (const s of sealed) expect(await received(s.orderId)).toHaveLength(1);
        for (const t of tenants) {
          expect((await listAll(t)).every((c) => c.status === 'completed')).toBe(true);
        }
      },
    });
  });
});

describe('seals and click ids', () => {
  it("a re-seal after a withdrawal answers the conversion's real state", async () => {
    // Prepare
    const tenant = await createOciTenant('api');
    const sealed = await sealOne(tenant);
    expect((await retract(tenant, sealed.conversionId)).json.retraction).toBe('withdrawn');
    await postCall(tenant, {
      callId: `${sealed.sessionId}-c1`,
      sessionId: sealed.sessionId,
      gclid: 'Cj0Kother',
      source: 'click',
      occurredAt: clickTime(),
    });

    // Act
    const again = await seal(tenant, sealed.callId);
    const other = await seal(tenant, `${sealed.sessionId}-c1`);

    // Assess: before, the same call's re-seal answered `enqueued: true`.
    for (const answer of [again, other]) {
      expect(answer.json).toMatchObject({
        enqueued: false,
        reason: 'withdrawn',
        status: 'withdrawn',
        conversionId: sealed.conversionId,
      });
    }
  });

  it('a click or a conversion in the future is a 400 naming the field, nothing written', async () => {
    // Before: both were taken; a click at 9999-12-31T20:00Z was even due at once, its due time
    // (`+010000-01-01…`) sorting before every four-digit year in DynamoDB's string order, and
    // Google refuses a conversion time in the future anyway.
    const tenant = await createOciTenant('api');
    const future = new Date(systemClock.now() + 24 * 3600_000).toISOString();
    for (const occurredAt of [future, '9999-12-31T20:00:00Z']) {
      const answer = await postCall(tenant, {
        callId: `c-${randomUUID().slice(0, 6)}`,
        sessionId: 's',
        gclid: 'Cj0Kfuture',
        source: 'click',
        occurredAt,
      });
      expect(answer.status, occurredAt).toBe(400);
      expect(answer.json.error.details[0].field).toBe('occurredAt');
    }
    const callId = `c-${randomUUID().slice(0, 6)}`;
    expect(
      (
        await postCall(tenant, {
          callId,
          sessionId: `s-${callId}`,
          gclid: 'Cj0Know',
          source: 'click',
          occurredAt: clickTime(),
        })
      ).status,
    ).toBe(201);
    const sealed = await seal(tenant, callId, { conversionTime: future });
    expect(sealed.status).toBe(400);
    expect(sealed.json.error.details[0].field).toBe('conversionTime');
    expect(await listAll(tenant)).toEqual([]);
  });

  it("a click id outside Google's alphabet is a 400 naming it, nothing written", async () => {
    const tenant = await createOciTenant('script');
    for (const [field, value] of [
      ['gclid', '=HYPERLINK("http://evil.example")'],
      ['gclid', '-1+2'],
      ['gbraid', '@SUM(1)'],
      ['wbraid', 'a,b'],
      ['gclid', 'Cj0K\tx'],
    ] as const) {
      const answer = await postCall(tenant, {
        callId: `c-${randomUUID().slice(0, 6)}`,
        sessionId: 's',
        [field]: value,
        source: 'click',
        occurredAt: clickTime(),
      });
      expect(answer.status, value).toBe(400);
      expect(answer.json.error.details[0].field).toBe(field);
    }
    expect(await listAll(tenant)).toEqual([]);
  });
});
