/**
 * Every listing route against the real DynamoDB Local, through its real handler, with cursors a
 * client made up: a cursor is a position in ONE query (its route, tenant, partition, sort-key
 * prefix and filters). A cursor of another query, route or tenant is the contract's 400; a random,
 * forged or mutated cursor is a 400 or a page, never a 5xx (DynamoDB's "The provided starting key
 * is invalid" must never reach the client as a 500).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as createCampaignHandler } from '../../../functions/campaigns/handlers/create-campaign.js';
import { handler as listCampaignsHandler } from '../../../functions/campaigns/handlers/list-campaigns.js';
import { handler as listRecipientsHandler } from '../../../functions/campaigns/handlers/list-recipients.js';
import { handler as listConversationsHandler } from '../../../functions/conversations/handlers/list-conversations.js';
import { handler as listMessagesHandler } from '../../../functions/conversations/handlers/list-messages.js';
import { putEndpoint } from '../../../functions/events/endpoints.js';
import { handler as listAttemptsHandler } from '../../../functions/events/handlers/list-attempts.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { handler as listLedgerConversionsHandler } from '../../../functions/ledger/handlers/list-conversions.js';
import { handler as listMembersHandler } from '../../../functions/ledger/handlers/list-members.js';
import { handler as listOciHandler } from '../../../functions/oci/handlers/list-conversions.js';
import { testPhoneNumberId, testTenant } from '../../support/test-tenant.js';
import { apiCall, type HttpResult, invoke, sendCloud } from '../conversations/inbound-support.js';
import { eventsWorld, testEvent } from '../events/events-support.js';
import { ledgerApi } from '../ledger/ledger-support.js';
import { postCall, seal } from '../oci/oci-support.js';

type Handler = Parameters<typeof invoke>[0];

interface World {
  readonly tenantId: string;
  readonly apiKey: string;
  readonly phoneNumberId: string;
  readonly conversationIds: string[];
  readonly campaignIds: string[];
  readonly users: string[];
  readonly endpointId: string;
}

/** One listing query: a route, its path parameters and its filters (all but `cursor`). */
interface Listing {
  readonly name: string;
  readonly handler: Handler;
  readonly route: string;
  readonly path: string;
  readonly pathParameters?: Record<string, string>;
  readonly query: Record<string, string>;
}

function listingsOf(w: World): Listing[] {
  const [c0 = '', c1 = ''] = w.conversationIds;
  const [k0 = '', k1 = ''] = w.campaignIds;
  const [u0 = ''] = w.users;
  const messages = (id: string): Listing => ({
    name: `messages of ${id}`,
    handler: listMessagesHandler as Handler,
    route: 'GET /v1/conversations/{conversationId}/messages',
    path: `/v1/conversations/${id}/messages`,
    pathParameters: { conversationId: id },
    query: { limit: '1' },
  });
  const recipients = (id: string, status?: string): Listing => ({
    name: `recipients of ${id}${status ? ` ${status}` : ''}`,
    handler: listRecipientsHandler as Handler,
    route: 'GET /v1/campaigns/{campaignId}/recipients',
    path: `/v1/campaigns/${id}/recipients`,
    pathParameters: { campaignId: id },
    query: { limit: '1', ...(status ? { status } : {}) },
  });
  const members = (queueType: string): Listing => ({
    name: `members of ${queueType}`,
    handler: listMembersHandler as Handler,
    route: 'GET /v1/work-queues/{queueType}/members',
    path: `/v1/work-queues/${queueType}/members`,
    pathParameters: { queueType },
    query: { limit: '1' },
  });
  const attempts = (status?: string): Listing => ({
    name: `event attempts${status ? ` ${status}` : ''}`,
    handler: listAttemptsHandler as Handler,
    route: 'GET /v1/event-endpoints/{endpointId}/attempts',
    path: `/v1/event-endpoints/${w.endpointId}/attempts`,
    pathParameters: { endpointId: w.endpointId },
    query: { limit: '1', ...(status ? { status } : {}) },
  });
  const conversions = (query: Record<string, string>): Listing => ({
    name: `conversions ${JSON.stringify(query)}`,
    handler: listLedgerConversionsHandler as Handler,
    route: 'GET /v1/conversions',
    path: '/v1/conversions',
    query: { limit: '1', ...query },
  });
  return [
    {
      name: 'conversations',
      handler: listConversationsHandler as Handler,
      route: 'GET /v1/conversations',
      path: '/v1/conversations',
      query: { limit: '1' },
    },
    messages(c0),
    messages(c1),
    {
      name: 'campaigns',
      handler: listCampaignsHandler as Handler,
      route: 'GET /v1/campaigns',
      path: '/v1/campaigns',
      query: { limit: '1' },
    },
    recipients(k0),
    recipients(k0, 'pending'),
    recipients(k1),
    {
      name: 'oci conversions',
      handler: listOciHandler as Handler,
      route: 'GET /v1/conversions/oci',
      path: '/v1/conversions/oci',
      query: {},
    },
    {
      name: 'oci conversions queued',
      handler: listOciHandler as Handler,
      route: 'GET /v1/conversions/oci',
      path: '/v1/conversions/oci',
      query: { status: 'queued' },
    },
    members('unsigned_users'),
    members('kyc_pending'),
    conversions({}),
    conversions({ userId: u0 }),
    conversions({ userId: u0, type: 'signature_obtained' }),
    conversions({ userId: u0, type: 'kyc_approved' }),
    conversions({ type: 'signature_obtained' }),
    conversions({ source: 'event' }),
    attempts(),
    attempts('pending'),
  ];
}

function list(w: World, listing: Listing, cursor?: string): Promise<HttpResult> {
  return invoke(
    listing.handler,
    apiCall(w.apiKey, {
      method: 'GET',
      routeKey: listing.route,
      path: listing.path,
      ...(listing.pathParameters ? { pathParameters: listing.pathParameters } : {}),
      query: { ...listing.query, ...(cursor !== undefined ? { cursor } : {}) },
    }),
  );
}

/** How many OCI conversions make the listing (100 a page, not configurable) answer a cursor. */
const OCI_FOR_A_CURSOR = 101;

async function buildWorld(tag: string, ociConversions: number): Promise<World> {
  const phoneNumberId = testPhoneNumberId();
  const customerId = String(1_000_000_000 + Math.floor(Math.random() * 8_999_999_999));
  const { tenantId, apiKey, webhookToken } = await testTenant(
    {
      name: `Listings ${tag}`,
      whatsapp: { phoneNumberIds: [phoneNumberId] },
      googleAds: {
        customerId,
        conversionAction: `customers/${customerId}/conversionActions/7`,
        conversionName: 'Qualified call',
      },
      workQueues: { kyc_pending: 'kyc_approved' },
    },
    { idPrefix: `lc-${tag}` },
  );
  const inboundTenant = {
    tenantId,
    phoneNumberId,
    locationId: 'unused',
    instance: 'unused',
    apiKey,
    webhookToken,
  };
  // Conversations: three people, the first with three messages.
  for (const [from, count] of [
    ['972501110001', 3],
    ['972501110002', 2],
    ['972501110003', 1],
  ] as const) {
    for (let i = 0; i < count; i++) {
      const sent = await sendCloud(inboundTenant, from, `hello ${i}`);
      if (sent.status !== 200) throw new Error(`webhook answered ${sent.status}: ${sent.text}`);
    }
  }
  const listed = await list(
    {
      tenantId,
      apiKey,
      phoneNumberId,
      conversationIds: [],
      campaignIds: [],
      users: [],
      endpointId: '',
    },
    {
      name: 'all conversations',
      handler: listConversationsHandler as Handler,
      route: 'GET /v1/conversations',
      path: '/v1/conversations',
      query: { limit: '10' },
    },
  );
  const conversationIds = (listed.json.conversations as Array<{ conversationId: string }>)
    .map((c) => c.conversationId)
    .sort();
  // Campaigns: two, three recipients each.
  const campaignIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const created = await invoke(
      createCampaignHandler as Handler,
      apiCall(apiKey, {
        method: 'POST',
        routeKey: 'POST /v1/campaigns',
        path: '/v1/campaigns',
        body: JSON.stringify({
          name: `Campaign ${i}`,
          template: { name: 'spring_sale', language: 'en_US' },
          phoneNumberId,
          recipients: ['+972502220001', '+972502220002', '+972502220003'].map((phone) => ({
            phone,
          })),
        }),
      }),
    );
    if (created.status !== 201) throw new Error(`create answered ${created.status}`);
    campaignIds.push(created.json.campaignId);
  }
  // OCI conversions.
  const oci = { apiKey };
  for (let start = 0; start < ociConversions; start += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, ociConversions - start) }, async (_, j) => {
        const callId = `call-${start + j}`;
        const clickAt = new Date(systemClock.now() - 3600_000).toISOString();
        await postCall(oci, {
          callId,
          sessionId: `session-${start + j}`,
          gclid: `gclid${start + j}`,
          source: 'click',
          occurredAt: clickAt,
        });
        const sealed = await seal(oci, callId);
        if (sealed.status !== 200) throw new Error(`seal answered ${sealed.status}`);
      }),
    );
  }
  // Ledger: members of both queues, conversions of two types, two users with two each.
  const api = ledgerApi(apiKey);
  const users = ['u-a', 'u-b', 'u-c'];
  for (const user of users) {
    await api.join('unsigned_users', user);
    await api.join('kyc_pending', user);
  }
  const now = new Date(systemClock.now()).toISOString();
  for (const user of users.slice(0, 2)) {
    await api.event(user, { type: 'signature_obtained', occurredAt: now, eventId: `s-${user}` });
    await api.event(user, { type: 'kyc_approved', occurredAt: now, eventId: `k-${user}` });
  }
  for (const user of users) await api.join('unsigned_users', `${user}-later`);
  // Event deliveries: one endpoint, three events dispatched (left pending: nothing is delivered).
  const events = await eventsWorld();
  const endpointId = `ep-${tag}`;
  await putEndpoint(events.endpoints, tenantId, endpointId, {
    url: 'http://127.0.0.1:9/unused',
    eventTypes: ['*'],
  });
  const dispatched = await events.sink.accept([0, 1, 2].map((seq) => testEvent(tenantId, { seq })));
  if (dispatched.failed.length > 0) throw new Error('events not dispatched');
  return { tenantId, apiKey, phoneNumberId, conversationIds, campaignIds, users, endpointId };
}

interface RealCursor {
  readonly world: World;
  readonly listing: Listing;
  readonly cursor: string;
}

let worlds: World[] = [];
const real: RealCursor[] = [];

beforeAll(async () => {
  worlds = [await buildWorld('a', OCI_FOR_A_CURSOR), await buildWorld('b', 2)];
  for (const world of worlds) {
    for (const listing of listingsOf(world)) {
      const first = await list(world, listing);
      expect(first.status, `${listing.name}: ${first.text}`).toBe(200);
      if (typeof first.json.nextCursor === 'string') {
        real.push({ world, listing, cursor: first.json.nextCursor });
        const second = await list(world, listing, first.json.nextCursor);
        expect(second.status, `${listing.name} page 2: ${second.text}`).toBe(200);
        if (typeof second.json.nextCursor === 'string') {
          real.push({ world, listing, cursor: second.json.nextCursor });
        }
      }
    }
  }
  // Every listing of the first world yields a real cursor (the foreign-cursor property needs them).
  const named = new Set(real.filter((r) => r.world === worlds[0]).map((r) => r.listing.name));
  expect([...named].sort()).toEqual(
    listingsOf(worlds[0] as World)
      .map((l) => l.name)
      .sort(),
  );
}, 600_000);

const sameQuery = (a: RealCursor, w: World, l: Listing) =>
  a.world === w && a.listing.name === l.name;

interface Target {
  readonly world: World;
  readonly listing: Listing;
}

/** Every listing query of every world; a counterexample prints as its name. */
function target(): fc.Arbitrary<Target> {
  const all = worlds.flatMap((world) => listingsOf(world).map((listing) => ({ world, listing })));
  return fc.constantFrom(...all.map((_, i) => i)).map((i) => {
    const t = all[i] as Target;
    return Object.assign(
      Object.create({ toString: () => `${t.world.tenantId}:${t.listing.name}` }),
      t,
    );
  });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const decoded = (cursor: string): unknown => {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return cursor;
  }
};

/** Values a forger would put in a key: the real ones of any listing, and strings DynamoDB refuses. */
function keyValues(): fc.Arbitrary<unknown> {
  const realValues = real.flatMap((r) => {
    const out: unknown[] = [];
    const walk = (v: unknown) => {
      if (typeof v === 'string' || typeof v === 'number') out.push(v);
      else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
    };
    walk(decoded(r.cursor));
    return out;
  });
  return fc.oneof(
    fc.constantFrom(...realValues),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({ unit: 'grapheme', minLength: 300, maxLength: 1100 }),
    fc.constant(''),
    fc.integer(),
    fc.constant(null),
    fc.constantFrom(...real.map((r) => r.world.tenantId)).map((t) => `TCONV#${t}#0`),
  );
}

/** A JSON value with one leaf changed at any depth (most often), or an attribute added or dropped. */
function mutate(value: unknown): fc.Arbitrary<unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const present = Object.keys(object);
    const extra = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 's', 'k', 'p', 'shard', 'key'].filter(
      (n) => !(n in object),
    );
    const changed = fc
      .constantFrom(...present)
      .chain((name) => mutate(object[name]).map((v) => ({ ...object, [name]: v })));
    const added = fc
      .constantFrom(...extra)
      .chain((name) => keyValues().map((v) => ({ ...object, [name]: v })));
    const dropped = fc.constantFrom(...present).map((name) => {
      const { [name]: _dropped, ...rest } = object;
      return rest;
    });
    if (present.length === 0) return added;
    return fc.oneof(
      { weight: 6, arbitrary: changed },
      { weight: 1, arbitrary: added },
      { weight: 1, arbitrary: dropped },
    );
  }
  return keyValues();
}

/** Cursors a client made up; most often a real cursor of the very listing, one field changed. */
function forgedCursor(t: Target): fc.Arbitrary<string> {
  const realCursor = fc.constantFrom(...real.map((r) => r.cursor));
  const own = real.filter((r) => sameQuery(r, t.world, t.listing)).map((r) => r.cursor);
  return fc.oneof(
    ...(own.length > 0
      ? [
          {
            weight: 4,
            arbitrary: fc
              .constantFrom(...own)
              .chain((c) => mutate(decoded(c)))
              .map(b64),
          },
        ]
      : []),
    fc.string({ maxLength: 60 }),
    fc.base64String({ maxLength: 200 }).map((s) => s.replace(/=/g, '').replace(/\+/g, '-')),
    fc.jsonValue({ maxDepth: 3 }).map(b64),
    fc
      .dictionary(
        fc.constantFrom('pk', 'sk', 'gsi1pk', 'gsi1sk', 's', 'k', 't', 'b', 'p', 'q'),
        keyValues(),
      )
      .map(b64),
    realCursor.chain((c) => mutate(decoded(c))).map(b64),
  );
}

const withCursor = (t: Target) => forgedCursor(t).map((cursor) => ({ target: t, cursor }));

describe('listing cursors', () => {
  it('a real cursor continues its own listing', async () => {
    for (const r of real) {
      const page = await list(r.world, r.listing, r.cursor);
      expect(page.status, `${r.listing.name}: ${page.text}`).toBe(200);
    }
  });

  it('a cursor of another route, tenant or filter is a 400 naming the cursor', async () => {
    await fc.assert(
      fc.asyncProperty(target(), fc.constantFrom(...real), async ({ world, listing }, foreign) => {
        fc.pre(!sameQuery(foreign, world, listing));
        const page = await list(world, listing, foreign.cursor);
        expect(page.status, `${foreign.listing.name} → ${listing.name}: ${page.text}`).toBe(400);
        expect(page.json.error.code).toBe('invalid_request');
        expect(page.json.error.details?.[0]?.field).toBe('cursor');
      }),
      { numRuns: 150, seed: 26_008 },
    );
  }, 300_000);

  it('random, forged and mutated cursors never get a 5xx: a page or a 400', async () => {
    await fc.assert(
      fc.asyncProperty(target().chain(withCursor), async ({ target: t, cursor }) => {
        const { world, listing } = t;
        const page = await list(world, listing, cursor);
        expect([200, 400], `${listing.name} with ${cursor}: ${page.text}`).toContain(page.status);
        if (page.status === 400) expect(page.json.error.code).toBe('invalid_request');
      }),
      { numRuns: 1000, seed: 26_008 },
    );
  }, 300_000);
});
