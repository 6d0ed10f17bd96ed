/**
 * The campaigns pipeline's crash points, one between every pair of durable effects, in the order
 * a campaign meets them. The crash matrix (`test/crash-matrix/campaigns.flow.ts`) arms each one
 * once; locally they are armed by name (`PUT /_local/failpoints`). Each text says where it stops.
 */
import { defineFailpoint } from '../kernel/failpoints.js';

export const FP_CREATE_AFTER_META = defineFailpoint(
  'campaign.create.after-meta',
  'campaign item written, its first page of recipients not yet',
);
export const FP_RECIPIENTS_AFTER_CHUNK = defineFailpoint(
  'campaign.recipients.after-chunk',
  'one transaction of recipients committed, the rest of the page not yet',
);
export const FP_START_AFTER_RUNNING = defineFailpoint(
  'campaign.start.after-running',
  'campaign moved to running, its fan-out messages not yet enqueued',
);
export const FP_FANOUT_AFTER_MARK = defineFailpoint(
  'campaign.fanout.after-mark',
  'a page of recipients marked as enqueued, their send messages not yet sent',
);
export const FP_FANOUT_AFTER_ENQUEUE = defineFailpoint(
  'campaign.fanout.after-enqueue',
  'send messages of a page enqueued, the shard cursor not yet saved',
);
export const FP_FANOUT_AFTER_BATCH = defineFailpoint(
  'campaign.fanout.after-batch',
  'a page done and its cursor saved, the next page not started',
);
export const FP_SEND_AFTER_CLAIM = defineFailpoint(
  'campaign.send.after-claim',
  'recipient claimed (sending, lease, attempt counted), the provider not yet called',
);
export const FP_SEND_AFTER_ACCEPTED = defineFailpoint(
  'campaign.send.after-provider-accepted',
  'the provider accepted the message, its wamid not yet stored',
);
export const FP_SEND_AFTER_REJECTED = defineFailpoint(
  'campaign.send.after-provider-rejected',
  'the provider refused the message, the recipient not yet released or failed',
);
export const FP_SEND_AFTER_STORED = defineFailpoint(
  'campaign.send.after-wamid-stored',
  'wamid stored (sent), the queue message not yet acknowledged',
);
export const FP_STATUS_AFTER_APPLY = defineFailpoint(
  'campaign.status.after-apply',
  'a status moved its recipient, the webhook not yet answered',
);
export const FP_RECOVER_AFTER_RELEASE = defineFailpoint(
  'campaign.recover.after-release',
  'a recipient released (or re-rung) by recovery, its send message not yet enqueued',
);
export const FP_RECOVER_AFTER_ENQUEUE = defineFailpoint(
  'campaign.recover.after-enqueue',
  'recovery enqueued a shard’s re-rung doorbells, the recipients not yet marked as rung',
);
// Named `counters.` (not `campaign.`): the fold is not a step of the campaign-sender model.
export const FP_FOLD_BEFORE_WRITE = defineFailpoint(
  'counters.fold.before-write',
  'a batch of the change feed read and its deltas summed, no counts written',
);
export const FP_FOLD_AFTER_WRITE = defineFailpoint(
  'counters.fold.after-write',
  'a batch’s counts folded (with its sequence number), the batch not yet acknowledged',
);
