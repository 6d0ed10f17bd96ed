/**
 * The events context's composition root for the change feed: the sink its events go to, built once
 * per container.
 */
import { createEndpointDispatcher } from './dispatch.js';
import type { EventSink } from './model.js';

export interface ChangeFeedDeps {
  readonly sink: EventSink;
}

let memo: ChangeFeedDeps | undefined;

export function changeFeedDeps(): ChangeFeedDeps {
  memo ??= { sink: createEndpointDispatcher() };
  return memo;
}
