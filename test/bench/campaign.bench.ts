/**
 * `npm run bench -- campaign [--recipients N] [--rate R]`: a campaign of 20,028 contacts (100 of
 * them written a second time in another format) through the local runtime, with the simulator at
 * 1% errors and 0.5% lost answers, the whole runtime SIGKILLed half-way and started again on the
 * same data. Prints duplicates (from the simulator's ledger), contacts never finished, totals vs
 * listing, drain time and sends/s against the configured rate.
 */

import {
  countListing,
  createCampaign,
  driveToCompletion,
  http,
  ledger,
  listing,
  otherFormat,
  phoneAt,
  retry,
  sendsPerContact,
  setupTenant,
  totals,
  waitForStatuses,
} from '../e2e/campaign-driver.js';
import { spawnLocalRuntime } from '../support/local-runtime.js';

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

export default async function campaignBench(args: string[]): Promise<void> {
  const total = option(args, 'recipients', 20_028);
  const rate = option(args, 'rate', 80);
  const duplicates = Math.min(100, Math.floor(total / 10));
  const unique = total - duplicates;
  const admin = 'bench-admin-key';
  const phoneNumberId = '700800900';
  const env = { ONCEFLOW_ADMIN_KEY: admin };
  const args30 = ['--schedule-speed', '30'];

  console.log(`campaign bench: ${total} entries (${duplicates} format duplicates), rate ${rate}/s`);
  const first = await spawnLocalRuntime({ env, args: args30 });
  const dataDir = first.dataDir;
  let current = first;
  try {
    const apiKey = await setupTenant(first, admin, {
      tenantId: 'bench',
      phoneNumberId,
      messagesPerSecond: rate,
    });
    const contacts = Array.from({ length: unique }, (_, i) => phoneAt(i));
    const entries = [...contacts, ...contacts.slice(0, duplicates).map(otherFormat)];
    const createdAt = Date.now();
    const created = await createCampaign(
      first,
      apiKey,
      phoneNumberId,
      entries,
      `bench-${Date.now()}`,
    );
    console.log(
      `created ${created.campaignId}: ${created.recipients} recipients, ${created.duplicatesCollapsed} collapsed (${Date.now() - createdAt} ms)`,
    );
    const faults = {
      whatsapp: {
        errorRate: 0.01,
        lostResponseRate: 0.005,
        rateLimitPerSecond: rate,
        statusDelayMs: 200,
      },
    };
    await http(first.simUrl, 'PUT', '/_sim/faults', { body: faults });
    const startedAt = Date.now();
    await retry(() =>
      http(first.apiUrl, 'POST', `/v1/campaigns/${created.campaignId}/start`, { token: apiKey }),
    );

    // Half-way: kill the whole tree, start again on the same data.
    for (;;) {
      const t = (await totals(first, apiKey, created.campaignId)).totals;
      if (t.sent + t.delivered + t.read + t.failed >= created.recipients / 2) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const killedAt = Date.now();
    const firstHalf = await ledger(first);
    const firstHalfSent = firstHalf.messages.length;
    await first.kill('SIGKILL');
    current = await spawnLocalRuntime({ env, args: args30, dataDir });
    // The provider's faults are settings of the simulator process: set them again.
    await http(current.simUrl, 'PUT', '/_sim/faults', { body: faults });
    console.log(
      `killed half-way at ${((killedAt - startedAt) / 1000).toFixed(1)} s; restarted in ${current.readyMs} ms`,
    );

    let polls = 0;
    const report = await driveToCompletion(current, apiKey, created.campaignId, {
      timeoutMs: 3 * 3600_000,
      intervalMs: 2000,
      checkEveryPoll: total <= 5000,
      onPoll: (t) => {
        if (++polls % 15 === 0)
          console.log(`  ${((Date.now() - startedAt) / 1000).toFixed(0)} s ${JSON.stringify(t)}`);
      },
    });
    const drainMs = Date.now() - startedAt;
    await waitForStatuses(current, 120_000);
    const sim = await ledger(current);
    const perContact = sendsPerContact(sim.messages, created.campaignId);
    const duplicateSends = [...perContact.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
    const listed = await listing(current, apiKey, created.campaignId);
    const finalTotals = (await totals(current, apiKey, created.campaignId)).totals;
    const counted = countListing(listed);
    const unfinished = listed.filter(
      (r) => !['sent', 'delivered', 'read', 'failed'].includes(r.status),
    ).length;
    const sent = listed.filter((r) => r.providerMessageId).length;
    const sendsPerSecond = sent / (drainMs / 1000);
    console.log('');
    console.log(`duplicates (ledger)      ${duplicateSends}`);
    console.log(`unfinished contacts      ${unfinished}`);
    console.log(
      `totals vs listing        ${JSON.stringify(finalTotals) === JSON.stringify(counted) ? 'equal' : 'DIFFERENT'} ${JSON.stringify(finalTotals)}`,
    );
    console.log(
      `polls with a mismatch    ${report.mismatchedPolls}${total > 5000 ? ' (listing checked at the end only)' : ''}`,
    );
    console.log(`clock jumps              ${report.clockAdvances}`);
    console.log(`drain time               ${(drainMs / 1000).toFixed(1)} s (incl. kill + restart)`);
    console.log(
      `accepted sends           ${sim.messages.length} for ${sent} contacts with a wamid`,
    );
    console.log(
      `provider refusals        before kill ${JSON.stringify(firstHalf.refused ?? {})}, after ${JSON.stringify(sim.refused ?? {})} (130429 = over the rate)`,
    );
    console.log(
      `first half               ${((firstHalfSent / (killedAt - startedAt)) * 1000).toFixed(1)} sends/s before the kill`,
    );
    console.log(
      `sends/s                  ${sendsPerSecond.toFixed(1)} vs configured ${rate}/s (${((100 * sendsPerSecond) / rate).toFixed(0)}%)`,
    );
  } finally {
    await current.stop().catch(() => undefined);
    if (current !== first) await first.stop().catch(() => undefined);
  }
}
