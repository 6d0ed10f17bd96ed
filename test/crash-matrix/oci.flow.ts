/**
 * Crash flows of the OCI pipeline: every failpoint on the seal, export/ack, stale recovery, API
 * upload and retraction paths is crashed once, then the flow is driven to the end the way the
 * world would (the operator retries the seal, the script runs again, the schedules tick, the
 * clock moves past leases). Invariants: the Google Ads simulator counts exactly one conversion per
 * sealed session (none lost, none twice), and a retraction reaches Google exactly once. Each run
 * puts the clock seam back when it ends, so the flows after it start from the real time.
 */
import { expect } from 'vitest';
import { armOnce, FailpointCrashError, firedCount } from '../../functions/kernel/failpoints.js';
import {
  FP_UPLOAD_AFTER_CLAIM,
  FP_UPLOAD_AFTER_FIRST_RESULT,
  FP_UPLOAD_AFTER_GOOGLE,
} from '../../functions/oci/api-upload.js';
import { FP_SEAL_AFTER_CREATE } from '../../functions/oci/calls.js';
import { FP_RETRACT_AFTER_CREATE } from '../../functions/oci/retraction.js';
import { FP_ACK_AFTER_SOME, FP_EXPORT_AFTER_CLAIM } from '../../functions/oci/script-export.js';
import { FP_STALE_AFTER_FIRST } from '../../functions/oci/stale-recovery.js';
import {
  advanceSeconds,
  createOciTenant,
  googleSim,
  listAll,
  makeCalls,
  type OciTenant,
  retract,
  runSchedule,
  scriptRun,
  seal,
  untilNoCrash,
} from '../integration/oci/oci-support.js';
import { withClockRestored } from '../support/process-state.js';
import type { CrashFlow } from './flow.js';

const SESSIONS = 3;

/** A crashed schedule run is simply over; the next tick starts afresh. */
async function tick(which: 'upload' | 'recover'): Promise<void> {
  try {
    await runSchedule(which);
  } catch (error) {
    if (!(error instanceof FailpointCrashError)) throw error;
  }
}

async function sealEverything(tenant: OciTenant): Promise<string[]> {
  const groups = await makeCalls(tenant, SESSIONS, 2);
  const orderIds = new Set<string>();
  for (const calls of groups) {
    for (const callId of calls) {
      const answer = await untilNoCrash(() => seal(tenant, callId));
      expect(answer.status).toBe(200);
      orderIds.add(answer.json.orderId);
    }
  }
  expect(orderIds.size).toBe(SESSIONS);
  return [...orderIds];
}

async function expectCountedOncePerSession(tenant: OciTenant, orderIds: readonly string[]) {
  const ledger = await (await googleSim()).ledger();
  const counted = ledger.counted.filter((c) => c.customerId === tenant.customerId);
  expect(counted.map((c) => c.orderId).sort()).toEqual([...orderIds].sort());
  const listed = await listAll(tenant);
  expect(listed).toHaveLength(orderIds.length);
  expect(listed.filter((c) => c.status !== 'completed')).toEqual([]);
}

const apiUpload: CrashFlow = {
  name: 'oci api-mode seal and upload',
  failpoints: [
    FP_SEAL_AFTER_CREATE,
    FP_UPLOAD_AFTER_CLAIM,
    FP_UPLOAD_AFTER_GOOGLE,
    FP_UPLOAD_AFTER_FIRST_RESULT,
  ],
  run: (point) =>
    withClockRestored(async () => {
      await googleSim();
      const tenant = await createOciTenant('api');
      armOnce(point);
      const orderIds = await sealEverything(tenant);
      for (let round = 0; round < 10; round++) {
        await tick('upload');
        await tick('recover');
        if ((await listAll(tenant)).every((c) => c.status === 'completed')) break;
        advanceSeconds(3601);
      }
      expect(firedCount(point)).toBe(1);
      await expectCountedOncePerSession(tenant, orderIds);
    }),
};

const scriptExport: CrashFlow = {
  name: 'oci script export, stale recovery and ack',
  failpoints: [FP_EXPORT_AFTER_CLAIM, FP_ACK_AFTER_SOME, FP_STALE_AFTER_FIRST],
  run: (point) =>
    withClockRestored(async () => {
      await googleSim();
      const tenant = await createOciTenant('script');
      const orderIds = await sealEverything(tenant);
      armOnce(point);
      // First run: the script uploads and dies before its ack (or the export itself crashes).
      await untilNoCrash(() => scriptRun(tenant, { crashBeforeAck: true }));
      for (let round = 0; round < 10; round++) {
        advanceSeconds(901);
        await tick('recover');
        await untilNoCrash(() => scriptRun(tenant));
        if ((await listAll(tenant)).every((c) => c.status === 'completed')) break;
      }
      expect(firedCount(point)).toBe(1);
      await expectCountedOncePerSession(tenant, orderIds);
    }),
};

const retraction: CrashFlow = {
  name: 'oci retraction',
  failpoints: [FP_RETRACT_AFTER_CREATE],
  run: (point) =>
    withClockRestored(async () => {
      await googleSim();
      const tenant = await createOciTenant('api');
      const orderIds = await sealEverything(tenant);
      await runSchedule('upload');
      const target = (await listAll(tenant)).find((c) => c.orderId === orderIds[0]);
      armOnce(point);
      const answer = await untilNoCrash(() => retract(tenant, target?.conversionId as string));
      expect(answer.status).toBe(202);
      await retract(tenant, target?.conversionId as string);
      advanceSeconds(24 * 3600 + 1);
      for (let round = 0; round < 5; round++) {
        await tick('upload');
        await tick('recover');
        advanceSeconds(3601);
      }
      expect(firedCount(point)).toBe(1);
      const ledger = await (await googleSim()).ledger();
      expect(ledger.retracted.filter((o) => o === orderIds[0])).toHaveLength(1);
      for (const other of orderIds.slice(1)) expect(ledger.retracted).not.toContain(other);
      await expectCountedOncePerSession(tenant, orderIds);
    }),
};

export default [apiUpload, scriptExport, retraction];
