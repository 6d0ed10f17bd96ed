/** The events context's public surface: what other contexts (the change feed) may import. */

export { DELIVERY_SPAN_SECONDS } from './deliver.js';
export { endpointDispatcher } from './deps.js';
export { createEndpointDispatcher, type DeliveryBell, type DispatcherDeps } from './dispatch.js';
export type { EventSink, EventType, OnceflowEvent } from './model.js';
export { EVENT_TYPES } from './model.js';
