/**
 * The replies context's public surface: what other contexts import from it. The job runner
 * (conversations' `process-job` handler) composes the AI replies port from here.
 */
export { type AiReplyDeps, aiReplies } from './ai-replies.js';
export { aiReplyPort } from './deps.js';
export { aiReplyIdFor, replyIdFor } from './items.js';
