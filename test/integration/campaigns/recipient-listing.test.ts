/**
 * `GET /v1/campaigns/{id}/recipients?status=` against DynamoDB Local: a filtered listing read in
 * small pages lists every matching recipient exactly once. A shard holds more recipients than one
 * page evaluates, and the filter drops most of them, so a query of a shard often stops (the page's
 * `Limit` of evaluated items) with nothing or a little to show: the listing must go on from where
 * that query stopped, never read the shard again from its start (which answered the same
 * recipients twice across pages, and spent thousands of queries on one request).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCampaign, describeCampaign } from '../../../functions/campaigns/lifecycle.js';
import { type CampaignWorld, campaignWorld, listAll, TEMPLATE } from './campaign-support.js';
import { foldCaughtUp } from './shared-fold.js';

let world: CampaignWorld;

beforeAll(async () => {
  world = await campaignWorld();
});

const valid = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ phone: `+97250${String(20_000_000 + i).slice(1)}` }));
// Each its own invalid input: kept as `skipped` under its own key, in the same shards.
const invalid = (n: number) => Array.from({ length: n }, (_, i) => ({ phone: `bad-${i}` }));

describe('a filtered recipient listing in small pages', () => {
  it('lists every recipient of the status exactly once, agreeing with the totals', async () => {
    const id = `cmp_it_list_${Math.random().toString(36).slice(2)}`;
    // ~6 pending and ~3 skipped a shard: pages of 3 stop inside shards with little to show.
    await createCampaign(world.deps, world.tenant, id, {
      name: 'Filtered',
      template: TEMPLATE,
      phoneNumberId: world.testTenant.phoneNumberId,
      recipients: [...valid(200), ...invalid(100)],
      skipInvalid: true,
    });
    // Totals are folded from the change feed: read once it is folded.
    await foldCaughtUp();
    const { totals } = await describeCampaign(world.deps, world.tenant.tenantId, id);
    expect(totals).toMatchObject({ pending: 200, skipped: 100 });

    for (const status of ['skipped', 'pending'] as const) {
      const listed = await listAll(world.deps, world.tenant.tenantId, id, { status, limit: 3 });
      const phones = listed.map((r) => r.phone);
      expect(new Set(phones).size).toBe(phones.length);
      expect(phones).toHaveLength(totals[status]);
      expect(listed.every((r) => r.status === status)).toBe(true);
    }
  });
});
