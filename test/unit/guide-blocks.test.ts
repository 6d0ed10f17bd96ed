import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { compareOutput, fencedBlocks, guideFiles, stepsOf } from '../support/guides.js';

const blocks = guideFiles(PROJECT_ROOT).flatMap((file) => fencedBlocks(PROJECT_ROOT, file));

describe('guide blocks', () => {
  it('every block with a curl or onceflow command is checked, or says why not', () => {
    const unmarked = blocks
      .filter((b) => /^\s*(curl |npx onceflow\b|\S.*(\| |\$\()curl )/m.test(b.body))
      .filter((b) => !/^(sh|bash) (check\b|no-check: \S)/.test(b.info))
      .map((b) => `${b.file}:${b.line} \`\`\`${b.info}`);
    expect(unmarked).toEqual([]);
  });

  it('splits a block into commands, each with the sample output under it', () => {
    const [step, next] = stepsOf({
      file: 'x.md',
      line: 10,
      info: 'sh check',
      body: ['# a comment', 'curl -s \\', '  localhost:3000/x', '# → {"a":1}', 'echo done'].join(
        '\n',
      ),
    });
    expect(step).toMatchObject({ line: 11, expected: ['{"a":1}'] });
    expect(step?.command).toContain('localhost:3000/x');
    expect(next).toMatchObject({ command: 'echo done', expected: [] });
  });
});

describe('sample outputs', () => {
  it('match JSON as a pattern: the keys shown, … for any text', () => {
    expect(
      compareOutput(['{"id":"of_key_…","n":1}'], '{"id":"of_key_abc","n":1,"more":true}'),
    ).toBeUndefined();
    expect(compareOutput(['{"n":1}'], '{"n":2}')).toMatch(/is not 1/);
    expect(compareOutput(['{"n":1}'], '{"m":1}')).toMatch(/missing/);
    expect(compareOutput(['{"n":1}'], 'not json')).toMatch(/not JSON/);
  });

  it('match plain lines one by one, … for any text', () => {
    expect(compareOutput(['target: …', '2 rows'], 'target: local (x)\n2 rows\n')).toBeUndefined();
    expect(compareOutput(['2 rows'], '3 rows')).toMatch(/line 1/);
    expect(compareOutput(['a', 'b'], 'a')).toMatch(/1 lines of output/);
  });
});
