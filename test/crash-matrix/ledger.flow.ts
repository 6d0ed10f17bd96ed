/**
 * Crash flows of the conversion ledger: every failpoint between two durable effects (evidence
 * stored → stay closed → conversion logged → evidence marked applied, and between the users or
 * items of one validation or sweep) is crashed once, in the path that passes through it; then the
 * flow goes on as it would after a real crash (the client retries, the cleanup sweep and the
 * reconciliation run past their window) and the invariants are checked: exactly one conversion per
 * (user, type, stay) with evidence, none without, none missing, no evidence left pending.
 */
import { randomUUID } from 'node:crypto';
import { systemClock } from '../../functions/kernel/clock.js';
import { armOnce, FailpointCrashError, firedCount } from '../../functions/kernel/failpoints.js';
import { reconcileConversions, sweepWorkQueues } from '../../functions/ledger/index.js';
import { listMissingConversions } from '../../functions/ledger/sweeps.js';
import {
  conversionsOf,
  createLedgerTenant,
  depsAhead,
  type LedgerTenant,
  ledgerApi,
} from '../integration/ledger/ledger-support.js';
import type { CrashFlow } from './flow.js';

const Q = 'unsigned_users';
const SIGNED = 'signature_obtained';
const WINDOW = 600;

type Path = 'event' | 'pre_call_validation' | 'cleanup' | 'reconciliation';

interface World {
  readonly tenant: LedgerTenant;
  readonly api: ReturnType<typeof ledgerApi>;
  /** Users with evidence during their stay, and their stay ids. */
  readonly converted: ReadonlyMap<string, string>;
  /** A user in the queue with no evidence. */
  readonly bystander: string;
  readonly signedAt: string;
}

async function crashes(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof FailpointCrashError)) throw error;
  }
}

async function build(): Promise<World> {
  const tenant = await createLedgerTenant();
  const api = ledgerApi(tenant.apiKey);
  const converted = new Map<string, string>();
  for (let i = 0; i < 2; i++) {
    const user = `u-${randomUUID().slice(0, 10)}`;
    converted.set(user, (await api.join(Q, user)).json.stayId);
  }
  const bystander = `u-${randomUUID().slice(0, 10)}`;
  await api.join(Q, bystander);
  // The stays were opened on the clock seam, so the evidence is stamped on it too (not `Date`).
  const signedAt = new Date(systemClock.now()).toISOString();
  return { tenant, api, converted, bystander, signedAt };
}

/** Evidence stored but not applied, as the event path leaves it when it crashes right after. */
async function storePending(world: World): Promise<void> {
  const { store } = depsAhead(0);
  const receivedAt = new Date(systemClock.now()).toISOString();
  for (const user of world.converted.keys()) {
    await store.putEvidence({
      tenantId: world.tenant.tenantId,
      userId: user,
      type: SIGNED,
      evidenceId: `e:sig-${user}`,
      eventId: `sig-${user}`,
      occurredAt: world.signedAt,
      effectiveAt: world.signedAt,
      receivedAt,
      state: 'pending',
    });
  }
}

const postEvents = (world: World) =>
  Promise.all(
    [...world.converted.keys()].map((user) =>
      crashes(() =>
        world.api.event(user, { type: SIGNED, occurredAt: world.signedAt, eventId: `sig-${user}` }),
      ),
    ),
  );

const sweep = (world: World) =>
  crashes(() => sweepWorkQueues(depsAhead(0), { tenantId: world.tenant.tenantId }));
const reconcile = (world: World) =>
  crashes(() =>
    reconcileConversions(depsAhead(WINDOW + 1), WINDOW, { tenantId: world.tenant.tenantId }),
  );
const validate = (world: World) =>
  crashes(() => world.api.validate(Q, { userIds: [...world.converted.keys(), world.bystander] }));

/** Drives the path that crashes, then what follows a crash: a retry, the schedules. */
async function drive(path: Path, world: World): Promise<void> {
  if (path === 'event') {
    await postEvents(world);
    await postEvents(world); // the client retries what crashed
  } else {
    await storePending(world);
    if (path === 'pre_call_validation') {
      await validate(world);
      await validate(world);
    } else if (path === 'cleanup') {
      await sweep(world);
    } else {
      await reconcile(world);
    }
  }
  await sweep(world);
  await reconcile(world);
}

async function checkInvariants(world: World): Promise<void> {
  for (const [user, stayId] of world.converted) {
    const logged = await conversionsOf(world.tenant.tenantId, user);
    if (logged.length !== 1 || logged[0]?.stayId !== stayId) {
      throw new Error(
        `user ${user}: expected one conversion for ${stayId}, got ${JSON.stringify(logged)}`,
      );
    }
  }
  const stray = await conversionsOf(world.tenant.tenantId, world.bystander);
  if (stray.length !== 0)
    throw new Error(`a conversion without evidence: ${JSON.stringify(stray)}`);
  const members = (await world.api.members(Q)).json.members as Array<{ userId: string }>;
  if (members.map((m) => m.userId).join() !== world.bystander) {
    throw new Error(`expected only the bystander in the queue, got ${JSON.stringify(members)}`);
  }
  const dry = await listMissingConversions(depsAhead(WINDOW + 1), world.tenant.tenantId, WINDOW);
  if (dry.pendingEvidence !== 0 || dry.missing.length !== 0) {
    throw new Error(`evidence left pending: ${JSON.stringify(dry)}`);
  }
}

function flow(path: Path, failpoints: string[]): CrashFlow {
  return {
    name: `ledger ${path}`,
    failpoints,
    async run(point) {
      const world = await build();
      armOnce(point);
      await drive(path, world);
      if (firedCount(point) !== 1) throw new Error(`${point} fired ${firedCount(point)} times`);
      await checkInvariants(world);
    },
  };
}

const flows: CrashFlow[] = [
  flow('event', [
    'ledger.event.after-evidence',
    'ledger.event.after-leave',
    'ledger.event.after-conversion',
  ]),
  flow('pre_call_validation', [
    'ledger.pre_call_validation.after-leave',
    'ledger.pre_call_validation.after-conversion',
    'ledger.pre_call_validation.after-user',
  ]),
  flow('cleanup', [
    'ledger.cleanup.after-leave',
    'ledger.cleanup.after-conversion',
    'ledger.cleanup.after-item',
  ]),
  flow('reconciliation', [
    'ledger.reconciliation.after-leave',
    'ledger.reconciliation.after-conversion',
    'ledger.reconciliation.after-item',
  ]),
];

export default flows;
