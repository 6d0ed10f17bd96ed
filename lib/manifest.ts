/**
 * The one declaration of onceflow's runtime shape: every table, queue and function, with each
 * function's trigger and the resources it may touch. The CDK stack (`lib/onceflow-stack.ts`) and the
 * local runtime (`lib/local/`) are both generated from this file; nothing is wired by hand twice.
 *
 * Handler files export `handler`. Resource names here are logical: the stack maps them to physical
 * names and passes them to the function as environment variables (see `envNameForTable` and
 * `envNameForQueue`), which is how `functions/kernel/config.ts` finds them at run time.
 */

export type TableName = 'tenants' | 'inbound' | 'campaigns' | 'idempotency';
export type QueueName = 'jobs' | 'sends' | 'fanout';
export type SecretName =
  | 'adminKeyHash'
  | 'whatsappAppSecret'
  | 'whatsappVerifyToken'
  | 'whatsappAccessToken'
  | 'aiApiKey';

/** Every key attribute, of tables and of indexes, is a string (`S`): ISO-8601 times sort as strings. */
export interface IndexSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
}

export interface TableSpec {
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Items with this epoch-seconds attribute expire (DynamoDB TTL). */
  readonly ttlAttribute: string;
  /** Global secondary indexes. `sweep` indexes are sparse: only items waiting for a schedule carry the key. */
  readonly indexes: readonly IndexSpec[];
}

export interface QueueSpec {
  /** Seconds a received message stays invisible; must exceed the consumer's timeout. */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the queue's FIFO dead-letter queue. */
  readonly maxReceiveCount: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpRoute {
  readonly method: HttpMethod;
  /** HTTP API route syntax, e.g. `/v1/tenants/{tenantId}`. */
  readonly path: string;
}

export type Trigger =
  | { readonly kind: 'http'; readonly routes: readonly HttpRoute[] }
  | {
      readonly kind: 'queue';
      readonly queue: QueueName;
      readonly batchSize: number;
    }
  | {
      readonly kind: 'schedule';
      /** How often the schedule fires, in seconds (EventBridge Scheduler `rate(...)`). */
      readonly everySeconds: number;
    };

export type TableAccess = 'read' | 'readWrite';

export interface FunctionSpec {
  /** Handler module, relative to the project root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly trigger: Trigger;
  readonly tables: Readonly<Partial<Record<TableName, TableAccess>>>;
  /** Queues this function sends to. */
  readonly sendsTo?: readonly QueueName[];
  readonly secrets?: readonly SecretName[];
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** @default 512 */
  readonly memoryMb?: number;
  /**
   * Deployed-only settings (e.g. a provider's public endpoint). The local runtime does not apply
   * them: there every function shares the process environment, which points at the simulators.
   */
  readonly environment?: Readonly<Record<string, string>>;
}

const KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;
/** A general-purpose listing index (e.g. a tenant's conversations by recency). */
const GSI1: IndexSpec = { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' };
/** The sparse index the recovery and cleanup schedules query instead of scanning. */
const SWEEP: IndexSpec = { name: 'sweep', partitionKey: 'sweepPk', sortKey: 'sweepAt' };

export const tables: Readonly<Record<TableName, TableSpec>> = {
  tenants: { ...KEYS, indexes: [] },
  inbound: { ...KEYS, indexes: [GSI1, SWEEP] },
  campaigns: { ...KEYS, indexes: [GSI1, SWEEP] },
  // Powertools Idempotency's own layout: one partition key `id`, TTL on `expiration`.
  idempotency: { partitionKey: 'id', ttlAttribute: 'expiration', indexes: [] },
};

export const queues: Readonly<Record<QueueName, QueueSpec>> = {
  jobs: { visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
  sends: { visibilityTimeoutSeconds: 60, maxReceiveCount: 10 },
  fanout: { visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
};

export const functions: Readonly<Record<string, FunctionSpec>> = {
  health: {
    entry: 'functions/health/get-health.ts',
    description: 'GET /health',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/health' }] },
    tables: {},
  },
  putTenant: {
    entry: 'functions/tenants/put-tenant.ts',
    description: 'Create or update a tenant configuration (platform admin)',
    trigger: { kind: 'http', routes: [{ method: 'PUT', path: '/v1/tenants/{tenantId}' }] },
    tables: { tenants: 'readWrite' },
    secrets: ['adminKeyHash'],
  },
  issueCredentials: {
    entry: 'functions/tenants/issue-credentials.ts',
    description: "Issue a tenant's API key, webhook token and export token (platform admin)",
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/tenants/{tenantId}/credentials' }],
    },
    tables: { tenants: 'readWrite' },
    secrets: ['adminKeyHash'],
  },
  // Inbound (issue 3): webhooks, conversations, post-processing jobs.
  receiveWhatsApp: {
    entry: 'functions/webhooks/receive-whatsapp.ts',
    description: 'WhatsApp Cloud API webhook: challenge; messages stored and statuses applied once',
    trigger: {
      kind: 'http',
      routes: [
        { method: 'GET', path: '/webhooks/whatsapp' },
        { method: 'POST', path: '/webhooks/whatsapp' },
      ],
    },
    tables: { tenants: 'read', inbound: 'readWrite', campaigns: 'readWrite' },
    sendsTo: ['jobs'],
    secrets: ['whatsappAppSecret', 'whatsappVerifyToken'],
  },
  receiveWhatsAppWeb: {
    entry: 'functions/webhooks/receive-whatsapp-web.ts',
    description: 'WhatsApp Web (Baileys gateway, Evolution API v2) webhook: messages stored once',
    trigger: { kind: 'http', routes: [{ method: 'POST', path: '/webhooks/whatsapp-web' }] },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['jobs'],
  },
  receiveGhlSms: {
    entry: 'functions/webhooks/receive-ghl-sms.ts',
    description: 'GoHighLevel inbound SMS workflow webhook: stored once by its stable-field key',
    trigger: { kind: 'http', routes: [{ method: 'POST', path: '/webhooks/ghl/sms' }] },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['jobs'],
  },
  listConversations: {
    entry: 'functions/conversations/list-conversations.ts',
    description: "A tenant's conversations, most recent first",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/conversations' }] },
    tables: { tenants: 'read', inbound: 'read' },
  },
  listConversationMessages: {
    entry: 'functions/conversations/list-messages.ts',
    description: "A conversation's messages, oldest first",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/conversations/{conversationId}/messages' }],
    },
    tables: { tenants: 'read', inbound: 'read' },
  },
  putLead: {
    entry: 'functions/conversations/put-lead.ts',
    description: 'Create or update a lead; attach and merge the conversations of its phones',
    trigger: { kind: 'http', routes: [{ method: 'PUT', path: '/v1/leads/{leadId}' }] },
    tables: { tenants: 'read', inbound: 'readWrite' },
  },
  listMessageJobs: {
    entry: 'functions/jobs/list-jobs.ts',
    description: "A message's post-processing jobs",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/messages/{messageId}/jobs' }] },
    tables: { tenants: 'read', inbound: 'read' },
  },
  processJob: {
    entry: 'functions/jobs/process-job.ts',
    description: 'Runs post-processing jobs (lead_match, ai_triage) from the jobs queue',
    trigger: { kind: 'queue', queue: 'jobs', batchSize: 10 },
    tables: { inbound: 'readWrite' },
    secrets: ['aiApiKey'],
    environment: { ONCEFLOW_AI_BASE_URL: 'https://api.openai.com' },
    timeoutSeconds: 60,
  },
  recoverJobs: {
    entry: 'functions/jobs/recover-jobs-schedule.ts',
    description: 'Re-enqueues jobs whose enqueue was lost and jobs whose worker crashed',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { inbound: 'readWrite' },
    sendsTo: ['jobs'],
    timeoutSeconds: 120,
  },
  // Campaigns (issue 4): API, fan-out, sender, recovery and counter reconciliation.
  createCampaign: {
    entry: 'functions/campaigns/create-campaign.ts',
    description: 'Create a draft campaign with its first page of recipients (Idempotency-Key)',
    trigger: { kind: 'http', routes: [{ method: 'POST', path: '/v1/campaigns' }] },
    tables: { tenants: 'read', campaigns: 'readWrite', idempotency: 'readWrite' },
    timeoutSeconds: 29,
  },
  addCampaignRecipients: {
    entry: 'functions/campaigns/add-recipients.ts',
    description: 'Add a page of recipients to a draft campaign, unique by E.164 across pages',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/campaigns/{campaignId}/recipients' }],
    },
    tables: { tenants: 'read', campaigns: 'readWrite', idempotency: 'readWrite' },
    timeoutSeconds: 29,
  },
  changeCampaignState: {
    entry: 'functions/campaigns/change-campaign-state.ts',
    description: 'Start (idempotent), pause or resume a campaign',
    trigger: {
      kind: 'http',
      routes: [
        { method: 'POST', path: '/v1/campaigns/{campaignId}/start' },
        { method: 'POST', path: '/v1/campaigns/{campaignId}/pause' },
        { method: 'POST', path: '/v1/campaigns/{campaignId}/resume' },
      ],
    },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['fanout'],
  },
  getCampaign: {
    entry: 'functions/campaigns/get-campaign.ts',
    description: 'A campaign with its totals',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/campaigns/{campaignId}' }] },
    tables: { tenants: 'read', campaigns: 'read' },
  },
  listCampaignRecipients: {
    entry: 'functions/campaigns/list-recipients.ts',
    description: "A campaign's recipients, by status, with a cursor",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/campaigns/{campaignId}/recipients' }],
    },
    tables: { tenants: 'read', campaigns: 'read' },
  },
  retryCampaignRecipient: {
    entry: 'functions/campaigns/handlers/retry-recipient.ts',
    description: 'Sends a recipient whose outcome is unknown once more, on an operator request',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/campaigns/{campaignId}/recipients/{phone}/retry' }],
    },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['sends'],
  },
  fanoutCampaign: {
    entry: 'functions/campaigns/fanout-campaign.ts',
    description: "Turns one shard of a running campaign's pending recipients into send messages",
    trigger: { kind: 'queue', queue: 'fanout', batchSize: 1 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['sends', 'fanout'],
    timeoutSeconds: 60,
  },
  sendCampaignMessage: {
    entry: 'functions/campaigns/send-campaign-message.ts',
    description: 'Sends one campaign recipient its WhatsApp template, at most once',
    trigger: { kind: 'queue', queue: 'sends', batchSize: 10 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    secrets: ['whatsappAccessToken'],
    environment: { WHATSAPP_API_BASE_URL: 'https://graph.facebook.com' },
    timeoutSeconds: 50,
  },
  recoverCampaigns: {
    entry: 'functions/campaigns/recover-campaigns.ts',
    description:
      'Re-rings lost campaign work, releases unknown outcomes after the window, completes campaigns',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['sends', 'fanout'],
    timeoutSeconds: 120,
  },
  reconcileCampaignCounters: {
    entry: 'functions/campaigns/reconcile-campaign-counters.ts',
    description: 'Recounts campaign recipients against their counters; emits CounterDrift',
    trigger: { kind: 'schedule', everySeconds: 300 },
    tables: { campaigns: 'readWrite' },
    timeoutSeconds: 300,
  },
};

/** Environment variable that carries a table's physical name. */
export function envNameForTable(table: TableName): string {
  return `ONCEFLOW_TABLE_${table.toUpperCase()}`;
}

/** Environment variable that carries a queue's URL. */
export function envNameForQueue(queue: QueueName): string {
  return `ONCEFLOW_QUEUE_${queue.toUpperCase()}_URL`;
}

/** Environment variable that carries where a secret lives (an SSM parameter or secret ARN). */
export function envNameForSecret(secret: SecretName): string {
  return `ONCEFLOW_SECRET_${secret.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** FIFO queue physical name suffix is required by SQS. */
export function queueResourceName(queue: QueueName, prefix = 'onceflow'): string {
  return `${prefix}-${queue}.fifo`;
}

export function httpRoutes(): Array<HttpRoute & { functionName: string }> {
  return Object.entries(functions).flatMap(([functionName, spec]) =>
    spec.trigger.kind === 'http'
      ? spec.trigger.routes.map((route) => ({ ...route, functionName }))
      : [],
  );
}
