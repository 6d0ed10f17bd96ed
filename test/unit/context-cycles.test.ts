/**
 * No context cycle: the contexts of `functions/` import each other in one direction only (the
 * kernel imports none). Read from the source, so a new import that closes a cycle fails here
 * naming the files that make it; the checker itself is shown to find a cycle.
 */
import { describe, expect, it } from 'vitest';
import {
  type ContextGraph,
  contextCycles,
  contextGraph,
  describeCycle,
} from '../support/context-graph.js';

describe('context import graph', () => {
  it('has no cycle between the contexts of functions/', () => {
    const graph = contextGraph('functions');
    const cycles = contextCycles(graph).map((cycle) => describeCycle(graph, cycle));
    expect(cycles).toEqual([]);
  });

  it('jobs import only the kernel; conversations import jobs', () => {
    const graph = contextGraph('functions');
    expect([...(graph.get('jobs')?.keys() ?? [])]).toEqual(['kernel']);
    expect(graph.get('conversations')?.has('jobs')).toBe(true);
    expect([...(graph.get('kernel')?.keys() ?? [])]).toEqual([]);
  });

  it('the checker finds a two-step and a three-step cycle, each once', () => {
    const graph: ContextGraph = new Map([
      ['conversations', new Map([['jobs', 'conversations/store-message.ts']])],
      [
        'jobs',
        new Map([
          ['conversations', 'jobs/deps.ts'],
          ['kernel', 'jobs/job-store.ts'],
        ]),
      ],
      ['a', new Map([['b', 'a/x.ts']])],
      ['b', new Map([['c', 'b/x.ts']])],
      ['c', new Map([['a', 'c/x.ts']])],
      ['kernel', new Map()],
    ]);
    expect(contextCycles(graph).map((c) => describeCycle(graph, c))).toEqual([
      'conversations → jobs (conversations/store-message.ts), jobs → conversations (jobs/deps.ts)',
      'a → b (a/x.ts), b → c (b/x.ts), c → a (c/x.ts)',
    ]);
  });
});
