import { describe, expect, it } from 'vitest';
import { memoized } from '../../../functions/kernel/memoized.js';

describe('memoized (every deps.ts builds its parts with it)', () => {
  it('builds nothing at import and once per warm container, however often it is asked', () => {
    // Prepare
    let builds = 0;
    const deps = memoized(() => ({ n: ++builds }));

    // Act / Assess
    expect(builds).toBe(0);
    const first = deps();
    expect(deps()).toBe(first);
    expect(builds).toBe(1);
  });

  it('builds again only when the key changes (a test pointing the context at another table)', () => {
    // Prepare
    let table = 'a';
    const deps = memoized(
      () => ({ table }),
      () => table,
    );

    // Act
    const a = deps();
    const again = deps();
    table = 'b';
    const b = deps();

    // Assess
    expect(again).toBe(a);
    expect(b).not.toBe(a);
    expect(b.table).toBe('b');
  });
});
