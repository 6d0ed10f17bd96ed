/**
 * Every metric onceflow emits, declared once. The CloudWatch dashboard and alarms
 * (`lib/constructs/observability.ts`), the local dashboard page (`lib/local/dashboard.ts`) and the
 * metrics table of `docs/runbook.md` are generated from this list, and
 * `test/unit/metrics-catalogue.test.ts` fails when the code emits a name missing here or a name here
 * is shown nowhere. Adding a metric is one entry in `METRICS`.
 *
 * Metrics are emitted with Powertools Metrics in the `Onceflow` namespace (`countMetric` in
 * `functions/kernel/telemetry.ts`), dimensioned by `service` and `source` (`http:<route>`,
 * `queue:<name>`, `schedule:<name>`, `background_job:<type>`; the jobs' shared claim and settle log
 * as `background_job:jobs` and emit no metric) and a metric's own dimensions, no
 * more: the dashboard sums every source with a metric-math SEARCH, so a new source shows up without
 * a change here. A metric's `dimensions` are built from the lists the emitting code uses
 * (`SOURCE_DIMENSIONS`, `CONVERSION_METRIC_DIMENSIONS`), and the alarms' `SCHEMA(...)` queries from
 * `dimensions`: CloudWatch matches a SCHEMA only to metrics with exactly that dimension set, so the
 * two must agree, and `test/integration/whole-service/alarms.test.ts` checks them against what the handlers print.
 */
import { FOLD_LAG_BOUND_SECONDS } from '../functions/campaigns/index.js';
import { SOURCE_DIMENSIONS } from '../functions/kernel/metric-dimensions.js';
import { CONVERSION_SOURCES } from '../functions/ledger/index.js';
import { CONVERSION_METRIC_DIMENSIONS } from '../functions/ledger/metric-dimensions.js';

/** The dashboard rows, one per guarantee onceflow watches, in display order. */
export const GUARANTEES = {
  duplicates: 'Duplicates suppressed (webhook, job, campaign status, seal, event)',
  idempotencyKeys: 'Idempotency-Key replays and 409s',
  recoveries: 'Recoveries by pipeline',
  sendOutcomes: 'Send outcomes: unknown outcomes and their resolution',
  counters: 'Counter drift',
  conversions: 'Conversions by source, and reconciled',
  oci: 'Offline conversion imports: states and stale recoveries',
  providerRefusals: 'Provider refusals (130429, 131056, Google quota)',
  unroutable: 'Unroutable webhooks',
  jobs: 'Post-processing jobs',
  replies: 'Replies: sent, failed, unknown outcomes and echoes matched',
  changeFeed: 'Events change feed: lag behind the effects',
  events: 'Events out: deliveries, retries, refused targets, disabled endpoints',
  runtime: 'Runtime: cold starts',
} as const;

export type Guarantee = keyof typeof GUARANTEES;

export type MetricUnitName = 'Count' | 'Milliseconds' | 'Seconds';

/** An alarm on a metric's sum (or maximum) over `periodSeconds`, sent to the stack's alarm topic. */
export interface MetricAlarmSpec {
  /** Fires when the sum (or maximum) is `>` this value (0: any occurrence). */
  readonly greaterThan: number;
  /**
   * How the period's datapoints are aggregated: a count is summed; an age is its maximum.
   * @default 'SUM'
   */
  readonly statistic?: 'SUM' | 'MAX';
  readonly periodSeconds: number;
  /** What the alarm means, in the runbook's words (its section is `## <alarm name>`). */
  readonly summary: string;
  /**
   * Who it wakes: `page` (someone acts now: effects are stuck, lost or doubled) or `ticket`
   * (someone looks within a working day: a tenant-side condition worth knowing, nothing of ours
   * broken). Both go to the one alarm topic; the description starts `[page]` or `[ticket]`, so a
   * subscription's filter policy (message body, `prefix`) routes tickets apart without a second
   * topic.
   * @default 'page'
   */
  readonly severity?: AlarmSeverity;
}

export type AlarmSeverity = 'page' | 'ticket';

/** An alarm's severity, its default filled in. */
export function alarmSeverity(alarm: MetricAlarmSpec): AlarmSeverity {
  return alarm.severity ?? 'page';
}

export interface MetricSpec {
  readonly name: string;
  readonly unit: MetricUnitName;
  /** Dimensions besides `service`. */
  readonly dimensions: readonly string[];
  readonly guarantee: Guarantee;
  /** What one unit of it means. */
  readonly meaning: string;
  readonly alarm?: MetricAlarmSpec;
  /**
   * Who emits it, when not yet this branch's code (a parallel branch declared here ahead of its
   * merge, so the merge adds no line here).
   */
  readonly pendingFrom?: string;
}

/** `service` and `source`: every metric has them (the kernel adds them, in one place). */
const BY_SOURCE = SOURCE_DIMENSIONS;
/** The ledger's conversion metrics add the event type (`functions/ledger/metric-dimensions.ts`). */
const BY_SOURCE_AND_TYPE = [...SOURCE_DIMENSIONS, ...CONVERSION_METRIC_DIMENSIONS] as const;

export const METRICS: readonly MetricSpec[] = [
  // Duplicates suppressed: the effect already happened, the repeat changed nothing.
  {
    name: 'WebhookItemStored',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning: 'A webhook item stored for the first time (the denominator of the duplicate rate)',
  },
  {
    name: 'WebhookItemDeduped',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning: 'A webhook item whose effect was already stored: a redelivery, answered as deduped',
  },
  {
    name: 'DuplicateSuppressed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning:
      "A repeated input found its effect already stored and wrote nothing new: a webhook message delivered again, or a campaign status the recipient already stands at or past (including the provider's `sent` for a send the sender recorded itself); the source dimension says which route or consumer",
  },
  {
    name: 'CampaignStatusWamidMismatch',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning:
      'A campaign status webhook named a message id other than the one stored for its recipient; ignored',
  },
  {
    name: 'OciDuplicateSeal',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning: 'A repeated conversion-export seal found the session already sealed',
  },
  {
    name: 'DuplicateEvidenceSuppressed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'duplicates',
    meaning: 'A repeated ledger event found its evidence already stored',
  },
  // Idempotency-Key (api.md): replays answer the first response; 409s are the contract's two conflicts.
  {
    name: 'IdempotencyKeyReplayed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'idempotencyKeys',
    meaning:
      'A request with a known Idempotency-Key and the same body got the first response again',
    pendingFrom: 'kernel',
  },
  {
    name: 'IdempotencyKeyInProgress',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'idempotencyKeys',
    meaning: '409 request_in_progress: a retry arrived while the first request was still running',
    pendingFrom: 'kernel',
  },
  {
    name: 'IdempotencyKeyMismatch',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'idempotencyKeys',
    meaning: '409 idempotency_key_mismatch: a known key came with another body',
    pendingFrom: 'kernel',
  },
  // Recoveries: work a crash or a lost doorbell left behind, picked up by a schedule.
  {
    name: 'JobsRecovered',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning:
      'Post-processing jobs re-enqueued by the recovery schedule (lost enqueue or crashed worker)',
  },
  {
    name: 'CampaignUnknownOutcomeRetried',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning:
      'A campaign send whose outcome stayed unknown past the window, with provider evidence that nothing was sent, was sent again',
  },
  {
    name: 'OciStaleRecovered',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning: 'A claimed conversion export older than its stale window returned to retry',
    alarm: {
      greaterThan: 0,
      periodSeconds: 900,
      summary: 'Conversion-export work sat claimed past its stale window',
    },
  },
  {
    name: 'PoisonMessage',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning: 'A queue message whose body cannot be read; it goes to the dead-letter queue',
  },
  // Send outcomes.
  {
    name: 'CampaignMessageSent',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning: 'A campaign template accepted by the provider, its message id stored',
  },
  {
    name: 'CampaignMessageFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning: 'A campaign send permanently refused by the provider',
  },
  {
    name: 'CampaignSendOutcomeUnknown',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning:
      'A campaign send whose answer was lost (timeout, gateway error): maybe sent, waiting for evidence',
  },
  {
    name: 'CampaignOutcomeReconciled',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning: 'An unknown send outcome resolved by a status webhook',
  },
  {
    name: 'CampaignUnknownOutcomeHeld',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning:
      "A send whose outcome stayed unknown past the window ended `unknown` under the tenant's `hold` policy: never sent again without evidence or an operator's retry",
  },
  {
    name: 'CampaignLateEvidenceApplied',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning:
      'A status webhook moved a contact ended `unknown` or `failed` to what the provider reports',
  },
  {
    name: 'CampaignWamidKeptAlone',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning:
      'The store of an accepted wamid (sending → sent) failed; the wamid was written on the recipient, still sending, and recovery moves it to sent',
  },
  {
    name: 'ReplyCreated',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply was queued in its conversation (a new Idempotency-Key)',
  },
  {
    name: 'ReplySent',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply was accepted by its provider and its provider id stored as the next write',
  },
  {
    name: 'ReplyFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply its provider refused for good (nothing was sent)',
  },
  {
    name: 'ReplySendThrottled',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply refused for throughput and sent again while its claim was held',
  },
  {
    name: 'ReplySendOutcomeUnknown',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply send whose answer was lost: maybe sent, waiting for evidence',
  },
  {
    name: 'ReplyUnknownOutcomeHeld',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning:
      "A reply whose outcome stayed unknown past the window ended `unknown` under the tenant's `hold` policy",
    alarm: {
      greaterThan: 0,
      periodSeconds: 900,
      summary: "A reply's send outcome stayed unknown past the window: an operator decides",
    },
  },
  {
    name: 'ReplyUnknownOutcomeRetried',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning:
      'A reply whose outcome stayed unknown past the window was sent once more under `retry_once` (recorded)',
  },
  {
    name: 'ReplyOperatorRetried',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: "An operator's explicit retry of a failed or unknown reply",
  },
  {
    name: 'ReplyStatusApplied',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A provider status (or echo) moved a reply forward',
  },
  {
    name: 'ReplyEchoMatched',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning:
      "A provider's echo of a reply matched it by provider id: its status moved, nothing filed",
  },
  {
    name: 'ReplyEchoAdopted',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning:
      "A provider's echo filed before the reply's record write was adopted by it: the thread shows the reply once",
  },
  {
    name: 'ReplyProviderIdConflict',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'replies',
    meaning: 'A reply already held another provider id than the one just accepted',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: 'A reply holds two provider ids: it may have been sent twice',
    },
  },
  {
    name: 'CampaignWamidLost',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning:
      'An accepted wamid could not be stored at all after every attempt (status webhooks still carry it)',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: 'An accepted send could not be recorded: its contact waits for the status webhook',
    },
  },
  {
    name: 'CampaignRecoveryFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning: "One campaign's recovery run failed; the others went on (it is tried again next run)",
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: 'Campaign recovery keeps failing for a campaign',
    },
  },
  {
    name: 'UnreadableSweepEntry',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'recoveries',
    meaning:
      'A sweep index entry too malformed to read (OCI upload/export/stale, ledger sweeps), skipped so the others go on',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: 'A malformed item sits in a sweep index; only an operator can mend it',
    },
  },
  {
    name: 'CounterReconcileFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'counters',
    meaning:
      'One campaign could not be recounted by the counter reconciliation; the others went on',
    alarm: {
      greaterThan: 0,
      periodSeconds: 900,
      summary: 'Counter reconciliation failed for a campaign',
    },
  },
  {
    name: 'CampaignWamidConflict',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'sendOutcomes',
    meaning: 'A second accepted message id for one recipient (the provider sent twice)',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary:
        'One campaign recipient got two provider message ids: a duplicate send reached a customer',
    },
  },
  // Counters.
  {
    name: 'CounterDrift',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'counters',
    meaning:
      "Campaign counts folded from the change feed differing from a recount of their recipients, on fold groups left alone past the fold's lag bound (should stay 0)",
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: "A campaign's totals differ from its recipients",
    },
  },
  {
    name: 'CounterFoldLagSeconds',
    unit: 'Seconds',
    dimensions: BY_SOURCE,
    guarantee: 'counters',
    meaning:
      'Age of the newest stream record a counter fold batch folded: how far campaign totals trail the recipient transitions they count',
    // Folded within seconds (Lambda reads a shard ~4 times a second; a batch is one write a shard).
    // A minute behind is a fold failing and retried (a bad record bisected towards the DLQ) or
    // throttled: totals stay behind the listing that long, and the stream keeps records 24 hours.
    alarm: {
      greaterThan: FOLD_LAG_BOUND_SECONDS,
      periodSeconds: 300,
      statistic: 'MAX',
      summary: 'Campaign counters trail their recipients by more than a minute',
    },
  },
  // Conversions (ledger).
  {
    name: 'ConversionsLogged',
    unit: 'Count',
    dimensions: BY_SOURCE_AND_TYPE,
    guarantee: 'conversions',
    // The ledger's paths from its own list, so the runbook cannot name others; `source` is the
    // route or schedule each one runs as.
    meaning: `Conversions recorded, by the route or schedule that logged them (the ledger's paths: ${CONVERSION_SOURCES.join(', ')}) and type`,
  },
  {
    name: 'ConversionsReconciled',
    unit: 'Count',
    dimensions: BY_SOURCE_AND_TYPE,
    guarantee: 'conversions',
    meaning:
      'Conversions the reconciliation schedule had to log because the live path missed them (should stay 0)',
    alarm: {
      greaterThan: 0,
      periodSeconds: 3600,
      summary: 'The ledger missed conversions that reconciliation had to add',
    },
  },
  // OCI.
  {
    name: 'OciSealed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'A session sealed into one conversion-export row',
  },
  {
    name: 'OciRowsClaimed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Conversion or retraction rows claimed (processing) by an export or the API uploader',
  },
  {
    name: 'OciRowsCompleted',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Rows Google counted (or already had: its dedupe answers), now completed',
  },
  {
    name: 'OciRowsRetry',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning:
      'Rows sent back to retry (too-recent click, or an unknown upload outcome); the same orderId goes again later',
  },
  {
    name: 'OciRowsFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Rows Google refused for good (the error code is kept on the row)',
  },
  {
    name: 'OciRowsUnconfirmed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning:
      "Rows the Google Ads script handed to Google's bulk upload, whose per-row result the Scripts API does not expose (uploaded, never counted as completed blind)",
  },
  {
    name: 'OciWithdrawn',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Conversions retracted before they were ever uploaded: withdrawn, never sent',
  },
  {
    name: 'OciRetractionRequested',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Retractions requested for uploaded conversions (one RETRACTION adjustment each)',
  },
  {
    name: 'GoogleAdsUploadAccepted',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning: 'Google Ads upload requests answered (partial failures read row by row)',
  },
  {
    name: 'GoogleAdsUploadUnknown',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'oci',
    meaning:
      'Google Ads upload requests with no usable answer (timeout, lost answer, request-level error): rows retried with the same orderIds',
  },
  {
    name: 'GoogleAdsUploadRejected',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'providerRefusals',
    meaning:
      'Google Ads upload requests refused as a whole (authentication, permission, invalid argument, a revoked OAuth grant): nothing processed, the rows wait with backoff',
    alarm: {
      greaterThan: 0,
      periodSeconds: 900,
      summary:
        'Google Ads refuses the upload requests: API-mode conversions wait until it is fixed',
    },
  },
  // Provider refusals.
  {
    name: 'ProviderVersionRejected',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'providerRefusals',
    meaning:
      'A provider API version refused: past its sunset or unknown to the calendar (nothing sent), or answered "does not exist" by the provider (rows held an hour)',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      summary: 'A provider API version is refused: uploads or sends are held until it is changed',
    },
  },
  {
    name: 'ProviderVersionSunsetSoon',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'providerRefusals',
    meaning: 'A configured provider API version within 60 days of its sunset (the daily check)',
    alarm: {
      greaterThan: 0,
      periodSeconds: 86_400,
      summary: 'A provider API version reaches its sunset within 60 days: upgrade it',
    },
  },
  {
    name: 'CampaignSendThrottled',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'providerRefusals',
    meaning:
      'A campaign send refused for throughput (130429, 131056 pair rate) or a transient error and retried after a back-off',
  },
  {
    name: 'GoogleAdsQuotaExceeded',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'providerRefusals',
    meaning: 'Google Ads answered RESOURCE_EXHAUSTED; the upload waits',
  },
  // Unroutable webhooks.
  {
    name: 'WebhookItemUnroutable',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'unroutable',
    meaning:
      "A signed webhook item for a phone number id no tenant owns, a status for no campaign message, a status broadcast or the business's own group message (answered so the provider stops retrying; nothing stored; a location or instance no tenant owns is a 401, WebhookRejected)",
  },
  {
    name: 'WebhookItemInvalid',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'unroutable',
    meaning:
      'A webhook item that could not be read (e.g. a sender that is not a phone or WhatsApp id): counted and logged with the reason, nothing stored',
  },
  {
    name: 'WebhookRejected',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'unroutable',
    meaning:
      'A whole webhook request refused: bad signature, missing or wrong token (logged without the secret or body)',
  },
  // Jobs.
  {
    name: 'JobDone',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'jobs',
    meaning: 'A post-processing job finished',
  },
  {
    name: 'JobFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'jobs',
    meaning: 'A post-processing job attempt failed (retried until its attempts run out)',
  },
  {
    name: 'AiTokens',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'jobs',
    meaning: 'Tokens spent by ai_triage jobs',
  },
  // Runtime.
  {
    name: 'ColdStart',
    unit: 'Count',
    dimensions: ['service', 'function_name'],
    guarantee: 'runtime',
    meaning: "A new execution environment (Powertools' captureColdStartMetric), by function",
    pendingFrom: 'kernel',
  },
  // The events change feed (issue 24).
  {
    name: 'ChangeFeedLagSeconds',
    unit: 'Seconds',
    dimensions: BY_SOURCE,
    guarantee: 'changeFeed',
    meaning:
      "Age of the newest stream record in a batch the change feed handled: how far events trail their effects (Lambda's IteratorAge, measured by the handler)",
    // Lambda reads a shard about 4 times a second; a feed 5 minutes behind is stuck (a failing
    // batch retried, the dispatcher refusing) or starved (throttled), and the stream keeps records
    // only 24 hours: past that, effects are never told.
    alarm: {
      greaterThan: 300,
      periodSeconds: 300,
      statistic: 'MAX',
      summary: 'The events change feed trails the effects by more than 5 minutes',
    },
  },
  // Events out (issue 24). The oldest undelivered event is the `eventDeliveries` queue's oldest
  // message (a delivery's message stays until a 2xx or its last attempt): `StaleQueueWork` with
  // that queue's own window (the whole retry schedule, `lib/onceflow-stack.ts`); a delivery that
  // exhausted its queue receives is a `DeadLetterMessages` alarm like any queue's.
  {
    name: 'EventDelivered',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning: 'An event delivered to an endpoint (a 2xx answer)',
  },
  {
    name: 'EventAttemptFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning: 'A delivery attempt that got no 2xx (retried on the schedule unless it was the last)',
  },
  {
    name: 'EventDeliveryFailed',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning: 'A delivery that failed its last attempt (or met a 410); replayable',
  },
  // A ticket, not a page: a disable is a tenant's receiver answering 410 or down for 5 days, and
  // the tenant is told (`endpoint.disabled` to its other endpoints, the state in the API), but an
  // operator should know too: from now on that endpoint's events reach it only by a replay once
  // the tenant re-enables it (`PUT` again), and a tenant with no other endpoint is told nothing at
  // all. Nothing of ours is broken (an outage of our own sending shows first as `StaleQueueWork`
  // on `eventDeliveries`, 30 h, long before any endpoint reaches 5 days), so it waits for a
  // working day. Any disable in 5 minutes: they are rare (one per endpoint per outage).
  {
    name: 'EventEndpointDisabled',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning: 'An endpoint disabled: it answered 410, or failed every attempt for 5 days',
    alarm: {
      greaterThan: 0,
      periodSeconds: 300,
      severity: 'ticket',
      summary:
        'An event endpoint was disabled (410, or 5 days of failures): its events now reach it only by replay',
    },
  },
  {
    name: 'EventTargetRefused',
    unit: 'Count',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning:
      "An attempt not made: the endpoint's host resolved to a forbidden address at delivery (DNS rebinding)",
  },
  {
    name: 'EventDeliveryAgeMs',
    unit: 'Milliseconds',
    dimensions: BY_SOURCE,
    guarantee: 'events',
    meaning: "From the effect's commit to an attempt's outcome, per recorded attempt",
  },
];

/**
 * Alarms on AWS-owned metrics (not emitted by onceflow): named here so the runbook and the infra
 * tests cover them with the catalogue's own.
 */
export const PLATFORM_ALARMS = {
  DeadLetterMessages: 'A message sits in a dead-letter queue (any queue)',
  Http5xxRate: 'More than 1% of HTTP API requests answered 5xx over 5 minutes',
  LambdaErrors: 'A function invocation failed (any function)',
  StaleQueueWork: 'The oldest message of a work queue is older than its window (stuck consumer)',
  StreamIteratorAge:
    "A stream-triggered function trails its stream (Lambda's IteratorAge): the change feed or the counter fold failing, throttled or not invoked",
} as const;

export type PlatformAlarm = keyof typeof PLATFORM_ALARMS;

/** Every alarm name, catalogue and platform, as the stack and the runbook call them. */
export function alarmNames(): string[] {
  return [...METRICS.filter((m) => m.alarm).map((m) => m.name), ...Object.keys(PLATFORM_ALARMS)];
}

export function metricsFor(guarantee: Guarantee): MetricSpec[] {
  return METRICS.filter((m) => m.guarantee === guarantee);
}

export function catalogueMetric(name: string): MetricSpec | undefined {
  return METRICS.find((m) => m.name === name);
}

/** The runbook's generated metrics table (`docs/runbook.md`, between the generated markers). */
export function renderMetricsTable(): string {
  const rows = METRICS.map((m) => {
    // Pages are the default and unmarked; a ticket says so.
    const ticket = m.alarm && alarmSeverity(m.alarm) === 'ticket' ? ' (ticket)' : '';
    const alarm = m.alarm
      ? `> ${m.alarm.greaterThan} per ${m.alarm.periodSeconds / 60} min${ticket}`
      : '';
    const pending = m.pendingFrom ? ` (from the ${m.pendingFrom} work)` : '';
    return `| \`${m.name}\` | ${GUARANTEES[m.guarantee]} | ${m.dimensions.join(', ')} | ${m.meaning}${pending} | ${alarm} |`;
  });
  return [
    '| metric | row | dimensions | meaning | alarm |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

export const RUNBOOK_TABLE_BEGIN =
  '<!-- metrics-catalogue:begin (generated: npx onceflow docs) -->';
export const RUNBOOK_TABLE_END = '<!-- metrics-catalogue:end -->';
