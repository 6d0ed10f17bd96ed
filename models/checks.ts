/**
 * Every check `npm run model` runs: a model, the switches it is built with, and what the checker
 * must answer. `expect: 'pass'` checks must explore their whole state space with no violation;
 * `expect: 'counterexample'` checks remove one guard (a `MUT_*` switch) and must be refuted,
 * which shows the property is not vacuous and the guard is the thing that holds it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MODELS_DIR = dirname(fileURLToPath(import.meta.url));

export type ModelName =
  | 'campaign-sender'
  | 'oci-pipeline'
  | 'conversion-ledger'
  | 'inbound-conversations';

export interface ModelCheck {
  readonly name: string;
  readonly model: ModelName;
  /** `spin -D` switches. */
  readonly defines: readonly string[];
  /** `safety`: assertions and end states; `progress`: the LTL claim under weak fairness (`pan -a -f`). */
  readonly mode: 'safety' | 'progress';
  readonly expect: 'pass' | 'counterexample';
  /** Run by `npm test` (the full list runs with `npm run model`). */
  readonly inTestSuite: boolean;
  readonly says: string;
}

export const CHECKS: readonly ModelCheck[] = [
  {
    name: 'campaign/hold/safety',
    model: 'campaign-sender',
    defines: [],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'unknownOutcome "hold": the provider sends each contact at most once; folded counts equal the listing once the feed is folded; completed only with every contact final',
  },
  {
    name: 'campaign/retry_once/safety',
    model: 'campaign-sender',
    defines: ['RETRY_ONCE'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'unknownOutcome "retry_once": at most 2 sends, and 2 only after a recorded unknown-outcome release',
  },
  {
    name: 'campaign/retry_once+evidence-in-window/safety',
    model: 'campaign-sender',
    defines: ['RETRY_ONCE', 'EVIDENCE_IN_WINDOW'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: '"retry_once" with statuses arriving within the window: at most once',
  },
  {
    name: 'campaign/hold/progress',
    model: 'campaign-sender',
    defines: ['PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: false,
    says: 'under weak fairness every contact reaches a final status and the campaign completes',
  },
  {
    name: 'campaign/mutant:unguarded-claim',
    model: 'campaign-sender',
    defines: ['MUT_UNGUARDED_CLAIM'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'the claim without its condition (pending, attempts, lease): a contact sent twice',
  },
  {
    name: 'campaign/mutant:window-shorter-than-call',
    model: 'campaign-sender',
    defines: ['RETRY_ONCE', 'EVIDENCE_IN_WINDOW', 'MUT_SHORT_WINDOW'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'a window not longer than the call timeout: recovery releases a claim whose call is in flight; sent twice',
  },
  {
    name: 'campaign/claim-without-pending-condition',
    model: 'campaign-sender',
    defines: ['MUT_NO_PENDING_GUARD'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'the claim keeps its attempts condition only: still at most once (the guards are redundant)',
  },
  {
    name: 'campaign/mutant:completion-on-folded-counts-only',
    model: 'campaign-sender',
    defines: ['MUT_FOLDED_ONLY'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'completion on the folded counts alone (no look at the recipients): completed while a contact is still pending, its arrival not yet folded',
  },
  {
    name: 'campaign/mutant:no-rering',
    model: 'campaign-sender',
    defines: ['PROGRESS', 'MUT_NO_RERING'],
    mode: 'progress',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'recovery that does not ring pending contacts: a doorbell dropped while paused stalls the campaign',
  },
  {
    name: 'oci/safety',
    model: 'oci-pipeline',
    defines: [],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'one conversion row per session; Google counts the session once',
  },
  {
    name: 'oci/progress',
    model: 'oci-pipeline',
    defines: ['PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: true,
    says: 'under weak fairness the conversion completes and Google counts it',
  },
  {
    name: 'oci/mutant:no-session-uniqueness',
    model: 'oci-pipeline',
    defines: ['MUT_NO_SESSION_UNIQUE'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'sealing without the per-session item: two conversions for one session',
  },
  {
    name: 'oci/mutant:orderid-per-upload',
    model: 'oci-pipeline',
    defines: ['MUT_ORDERID_PER_UPLOAD'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'an orderId not derived from the session: a lost answer and a re-upload count twice',
  },
  {
    name: 'oci/mutant:no-stale-recovery',
    model: 'oci-pipeline',
    defines: ['PROGRESS', 'MUT_NO_STALE_RECOVERY'],
    mode: 'progress',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'no stale-processing schedule: a lost export answer leaves the row processing for good',
  },
  {
    name: 'oci/mutant:one-lease-per-run',
    model: 'oci-pipeline',
    defines: ['MUT_RUN_LEASE'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'one lease for a whole uploader run: a request is sent after the recovery took its row back',
  },
  {
    name: 'oci/mutant:claim-ignores-retraction',
    model: 'oci-pipeline',
    defines: ['MUT_CLAIM_IGNORES_RETRACT'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'the claim takes a conversion with a retraction requested: Google counts it after the retraction was asked for',
  },
  {
    name: 'oci/mutant:withdraw-in-flight',
    model: 'oci-pipeline',
    defines: ['MUT_WITHDRAW_IN_FLIGHT'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'a retraction withdraws a conversion whose upload is in flight: Google counts a withdrawn conversion',
  },
  {
    name: 'oci/mutant:trust-script-ack',
    model: 'oci-pipeline',
    defines: ['MUT_TRUST_SCRIPT_ACK'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'a script\'s late "not counted" ack of an older export, trusted: a conversion Google counted is withdrawn, its retraction never sent',
  },
  {
    name: 'ledger/safety',
    model: 'conversion-ledger',
    defines: [],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'at most one conversion per (user, type, stay)',
  },
  {
    name: 'ledger/progress',
    model: 'conversion-ledger',
    defines: ['PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: true,
    says: 'once the schedules have run, every stay with evidence has its conversion',
  },
  {
    name: 'ledger/mutant:no-attribute-not-exists',
    model: 'conversion-ledger',
    defines: ['MUT_NO_ATTR_NOT_EXISTS'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'the conversion written without attribute_not_exists: two conversions for one stay',
  },
  {
    name: 'ledger/mutant:no-sweeps',
    model: 'conversion-ledger',
    defines: ['PROGRESS', 'MUT_NO_SWEEPS'],
    mode: 'progress',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'no cleanup or reconciliation sweep: evidence whose handler crashed after the user left is never logged',
  },
  {
    name: 'inbound/merge/safety',
    model: 'inbound-conversations',
    defines: [],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'an alias-only message, a linking message and a lead PUT racing, with crashes: one live, listed conversation holds every message and every key leads to it; mergedInto never cycles; counts equal memberships',
  },
  {
    name: 'inbound/two-leads/safety',
    model: 'inbound-conversations',
    defines: ['TWO_LEADS'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'two leads whose PUTs each list both phones, each lead holding one phone’s conversation: the crossing folds end in one live conversation',
  },
  {
    name: 'inbound/lead-put-retry/safety',
    model: 'inbound-conversations',
    defines: ['TWO_LEAD_PUTS'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'the merge scenario with the lead PUT’s retry racing its first request (two folds creating one anchor)',
  },
  {
    name: 'inbound/lead-match-job/safety',
    model: 'inbound-conversations',
    defines: ['LEAD_MATCH_JOB'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'the merge scenario with m2’s lead_match job folding the alias and the lead as well',
  },
  {
    name: 'inbound/merge/progress',
    model: 'inbound-conversations',
    defines: ['PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: false,
    says: 'under weak fairness every delivery, the lead PUT and their folds finish (no livelock of re-decided folds)',
  },
  {
    name: 'inbound/two-leads/progress',
    model: 'inbound-conversations',
    defines: ['TWO_LEADS', 'PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: false,
    says: 'under weak fairness both crossing lead folds finish',
  },
  {
    name: 'inbound/jobs/safety',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: true,
    says: 'two deliveries of one message racing, two consumers, recovery, an expiring lease, a lost ring, a failed run: filed once, the job done at most once, a live lease never settled by another',
  },
  {
    name: 'inbound/jobs/ai-reply-per-run/counterexample',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1', 'MUT_AI_REPLY_PER_RUN'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'an AI reply named by the job run instead of the inbound message: a run retried after a crash past the reply (or a racing run) creates a second reply',
  },
  {
    name: 'inbound/jobs/two-rings/safety',
    model: 'inbound-conversations',
    defines: ['JOBS'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'the jobs scenario with up to two rings of the job on the queue at once',
  },
  {
    name: 'inbound/jobs/lead_match/safety',
    model: 'inbound-conversations',
    defines: ['JOBS', 'LEAD_MATCH_WORK', 'MAXBELLS=1'],
    mode: 'safety',
    expect: 'pass',
    inTestSuite: false,
    says: 'the jobs scenario for a lead_match job (its crash after the lead attach)',
  },
  {
    name: 'inbound/jobs/progress',
    model: 'inbound-conversations',
    defines: ['JOBS', 'ONE_CONSUMER', 'PROGRESS'],
    mode: 'progress',
    expect: 'pass',
    inTestSuite: false,
    says: 'under weak fairness the job settles: done, or failed with its attempts spent',
  },
  {
    name: 'inbound/mutant:merge-into-merged',
    model: 'inbound-conversations',
    defines: ['TWO_LEADS', 'MUT_MERGE_INTO_MERGED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'markMerged without checking the survivor is live: the crossing folds merge each lead’s conversation into the other’s, a cycle, and both vanish from the listing',
  },
  {
    name: 'inbound/mutant:file-into-merged',
    model: 'inbound-conversations',
    defines: ['MUT_FILE_INTO_MERGED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'a message filed without attribute_not_exists(mergedInto): it lands in a conversation already drained and merged',
  },
  {
    name: 'inbound/mutant:survivor-merged',
    model: 'inbound-conversations',
    defines: ['MUT_SURVIVOR_MERGED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'the survivor upserted though merged meanwhile: a merged conversation is listed again',
  },
  {
    name: 'inbound/mutant:move-unguarded',
    model: 'inbound-conversations',
    defines: ['MUT_MOVE_UNGUARDED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'a message moved into a conversation merged meanwhile: it is stranded out of the survivor',
  },
  {
    name: 'inbound/mutant:redirect-blind',
    model: 'inbound-conversations',
    defines: ['MUT_REDIRECT_BLIND'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'key items redirected without the condition on what was read: a first contact’s key is overwritten and its conversation orphaned',
  },
  {
    name: 'inbound/mutant:anchor-blind',
    model: 'inbound-conversations',
    defines: ['TWO_LEAD_PUTS', 'MUT_ANCHOR_BLIND'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'the lead’s anchor key created twice by racing folds: a second live conversation for the lead',
  },
  {
    name: 'inbound/mutant:unlinked',
    model: 'inbound-conversations',
    defines: ['MUT_UNLINKED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'an alias-only message filed under its alias after a link named it: a second conversation no fold finds',
  },
  {
    name: 'inbound/mutant:claim-overwrites',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1', 'MUT_CLAIM_OVERWRITES'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'a duplicate delivery’s claim put without attribute_not_exists: it replaces the filed message, which is filed twice',
  },
  {
    name: 'inbound/mutant:refile',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1', 'MUT_REFILE'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'filing without attribute_not_exists(conversationId): two deliveries past the claim file the message twice',
  },
  {
    name: 'inbound/mutant:no-lease-owner',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1', 'MUT_NO_LEASE_OWNER'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: true,
    says: 'done/failed without the lease-holder condition: a worker whose lease was taken over fails the job under its new holder',
  },
  {
    name: 'inbound/mutant:reset-unguarded',
    model: 'inbound-conversations',
    defines: ['JOBS', 'MAXBELLS=1', 'MUT_RESET_UNGUARDED'],
    mode: 'safety',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'a duplicate resets the failed job it read after a redelivery finished it: the job is done twice',
  },
  {
    name: 'inbound/mutant:no-recovery',
    model: 'inbound-conversations',
    defines: ['JOBS', 'ONE_CONSUMER', 'PROGRESS', 'MUT_NO_RECOVERY'],
    mode: 'progress',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'no recovery schedule: a crash after filing leaves the job pending with no ring, for ever',
  },
  {
    name: 'inbound/mutant:sweep-unguarded',
    model: 'inbound-conversations',
    defines: ['JOBS', 'ONE_CONSUMER', 'PROGRESS', 'MUT_SWEEP_UNGUARDED'],
    mode: 'progress',
    expect: 'counterexample',
    inTestSuite: false,
    says: 'the sweep drops a claim it read without checking it still has no job: filed meanwhile and its ring lost, the job stays pending out of the index, for ever',
  },
];

export interface CheckResult {
  readonly check: ModelCheck;
  readonly statesStored: number;
  readonly errors: number;
  /** The first violation pan reported, e.g. `assertion violated (sends[c]<=1)` or `acceptance cycle`. */
  readonly violation: string | null;
  readonly seconds: number;
  readonly ok: boolean;
  /** Where the counterexample trail was kept (read it with `spin -t -p`), when there is one. */
  readonly trailDir: string | null;
}

export function modelPath(model: ModelName): string {
  return join(MODELS_DIR, `${model}.pml`);
}

/** The failpoint names a model's steps carry (`@failpoint <name>` tags). */
export function failpointTags(model: ModelName): string[] {
  const text = readFileSync(modelPath(model), 'utf8');
  return [...new Set([...text.matchAll(/@failpoint\s+([a-z0-9._-]+)/g)].map((m) => m[1] ?? ''))]
    .filter((name) => name !== '')
    .sort();
}

/** Failpoint names a model leaves out on purpose (`@not-modelled <name> (why)` in its header). */
export function notModelled(model: ModelName): string[] {
  const text = readFileSync(modelPath(model), 'utf8');
  return [...text.matchAll(/@not-modelled\s+([a-z0-9._-]+)/g)].map((m) => m[1] ?? '').sort();
}

/** Builds the verifier in a temp dir (pan.c never lands in the repo) and runs it. */
export function runCheck(check: ModelCheck, opts: { keepTrail?: boolean } = {}): CheckResult {
  const dir = mkdtempSync(join(tmpdir(), `onceflow-model-${check.model}-`));
  const started = Date.now();
  let keep = false;
  try {
    const model = `${check.model}.pml`;
    execFileSync('cp', [modelPath(check.model), join(dir, model)]);
    execFileSync('spin', [...check.defines.map((d) => `-D${d}`), '-a', model], {
      cwd: dir,
      stdio: 'pipe',
    });
    const cflags = check.mode === 'safety' ? ['-DSAFETY'] : ['-DNFAIR=4', '-DCOLLAPSE'];
    execFileSync('gcc', ['-w', '-O2', ...cflags, '-o', 'pan', 'pan.c'], {
      cwd: dir,
      stdio: 'pipe',
    });
    const panArgs = ['-m200000', ...(check.mode === 'progress' ? ['-a', '-f'] : [])];
    let out: string;
    try {
      out = execFileSync('./pan', panArgs, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
    } catch (err) {
      // pan exits non-zero on some violations; its report is still on stdout.
      out = String((err as { stdout?: string }).stdout ?? '');
    }
    const errors = Number(/errors: (\d+)/.exec(out)?.[1] ?? Number.NaN);
    const statesStored = Number(/(\d+) states, stored/.exec(out)?.[1] ?? Number.NaN);
    const violation = /pan:\d+: ([^\n]*?)(?: \(at depth \d+\))?\n/.exec(out)?.[1] ?? null;
    const depthLimit = /max search depth too small/.test(out);
    const found = Number.isFinite(errors) && errors > 0;
    const ok =
      Number.isFinite(errors) && !depthLimit && (check.expect === 'pass' ? errors === 0 : found);
    keep = found && (opts.keepTrail ?? false);
    return {
      check,
      statesStored,
      errors,
      violation,
      seconds: (Date.now() - started) / 1000,
      ok,
      trailDir: keep ? dir : null,
    };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** The failpoint-name prefixes of the pipelines each model stands for. */
export const MODEL_PIPELINES: Readonly<Record<ModelName, readonly string[]>> = {
  'campaign-sender': ['campaign.'],
  'oci-pipeline': ['oci.'],
  'conversion-ledger': ['ledger.'],
  'inbound-conversations': ['inbound.', 'conversations.', 'leads.', 'jobs.', 'recovery.'],
};

/** Whether a failpoint name belongs to one of the model's pipelines. */
export function ofModel(model: ModelName, name: string): boolean {
  return MODEL_PIPELINES[model].some((prefix) => name.startsWith(prefix));
}
