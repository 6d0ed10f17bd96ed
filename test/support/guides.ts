/**
 * The guides' commands as tests run them. A fenced block marked `sh check` in README.md or
 * docs/*.md is a walkthrough: its commands run, in document order, in one bash session per guide
 * against a local runtime started for that guide (the README's `sh check quickstart` block first:
 * the guides start from the quickstart's tenant). A comment line `# → <output>` right after a
 * command is that command's sample output, checked against what it printed:
 *
 * - JSON is matched as a pattern: every key the sample shows must be there with a matching value
 *   (keys it leaves out may be anything), arrays element by element;
 * - `…` in a sample stands for any text (an id, a key, a time), in JSON strings and in plain lines;
 * - several `# → ` lines are the command's lines of output, in order; a JSON sample may go on in
 *   comment lines indented past the `#` (`#     "more": ...`).
 *
 * Every command must exit 0. A block that shows commands but cannot run here says why in its info
 * string (`sh no-check: needs an AWS account`); `test/unit/guide-blocks.test.ts` refuses a block
 * with a `curl` or `npx onceflow` line that is neither.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GuideBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string after the backticks: `sh check`, `bash no-check: …`, `json`, ... */
  readonly info: string;
  readonly body: string;
}

export interface GuideStep {
  readonly file: string;
  /** 1-based line of the step's first command line. */
  readonly line: number;
  readonly command: string;
  /** The sample output lines (`# → ...`), if the guide shows one. */
  readonly expected: readonly string[];
}

const FENCE = /^(\s*)```(.*)$/;
const SAMPLE = /^\s*# → ?(.*)$/;
const CONTINUED = /^\s*#\s{3,}(\S.*)$/;

/** Every fenced block of a markdown file. */
export function fencedBlocks(root: string, file: string): GuideBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: GuideBlock[] = [];
  let open: { line: number; info: string; body: string[] } | undefined;
  lines.forEach((text, index) => {
    const fence = FENCE.exec(text);
    if (!open && fence) {
      open = { line: index + 1, info: (fence[2] ?? '').trim(), body: [] };
      return;
    }
    if (open && fence && (fence[2] ?? '').trim() === '') {
      blocks.push({ file, line: open.line, info: open.info, body: open.body.join('\n') });
      open = undefined;
      return;
    }
    open?.body.push(text);
  });
  return blocks;
}

export const isChecked = (block: GuideBlock) => /^(sh|bash) check\b/.test(block.info);

/** A block's commands, each with the sample output that follows it. */
export function stepsOf(block: GuideBlock): GuideStep[] {
  const steps: GuideStep[] = [];
  let command: string[] = [];
  let first = 0;
  let expected: string[] = [];
  const flush = () => {
    if (command.some((l) => l.trim() !== '' && !l.trim().startsWith('#'))) {
      steps.push({
        file: block.file,
        line: block.line + first,
        command: command.join('\n'),
        expected,
      });
    }
    command = [];
    expected = [];
  };
  block.body.split('\n').forEach((text, index) => {
    const sample = SAMPLE.exec(text);
    if (sample) {
      expected.push(sample[1] ?? '');
      return;
    }
    // A sample spread over lines goes on in comment lines indented past the `#`.
    const more = expected.length > 0 ? CONTINUED.exec(text) : null;
    if (more) {
      expected.push(more[1] ?? '');
      return;
    }
    if (expected.length > 0) flush();
    if (command.length === 0) first = index + 1;
    command.push(text);
  });
  flush();
  return steps;
}

/** `…` stands for any text; everything else is literal. */
function wildcard(sample: string): RegExp {
  const escaped = sample
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*');
  return new RegExp(`^${escaped}$`);
}

/** Where `actual` departs from the `sample` pattern, or undefined when it matches. */
function mismatch(sample: unknown, actual: unknown, at: string): string | undefined {
  if (typeof sample === 'string') {
    const text = typeof actual === 'string' ? actual : JSON.stringify(actual);
    return wildcard(sample).test(text)
      ? undefined
      : `${at}: ${JSON.stringify(actual)} is not ${JSON.stringify(sample)}`;
  }
  if (Array.isArray(sample)) {
    if (!Array.isArray(actual) || actual.length !== sample.length) {
      return `${at}: ${JSON.stringify(actual)} is not a list of ${sample.length}`;
    }
    for (const [i, item] of sample.entries()) {
      const wrong = mismatch(item, actual[i], `${at}[${i}]`);
      if (wrong) return wrong;
    }
    return undefined;
  }
  if (sample && typeof sample === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) {
      return `${at}: ${JSON.stringify(actual)} is not an object`;
    }
    for (const [key, value] of Object.entries(sample)) {
      if (!(key in actual)) return `${at}.${key} is missing from ${JSON.stringify(actual)}`;
      const wrong = mismatch(value, (actual as Record<string, unknown>)[key], `${at}.${key}`);
      if (wrong) return wrong;
    }
    return undefined;
  }
  return Object.is(sample, actual)
    ? undefined
    : `${at}: ${JSON.stringify(actual)} is not ${JSON.stringify(sample)}`;
}

/** Checks a command's output against the guide's sample; the reason it differs, if it does. */
export function compareOutput(expected: readonly string[], output: string): string | undefined {
  if (expected.length === 0) return undefined;
  const sample = expected.join('\n').trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(sample.replaceAll('…', '\\u2026'));
  } catch {
    parsed = undefined;
  }
  if (parsed !== undefined && typeof parsed === 'object') {
    let actual: unknown;
    try {
      actual = JSON.parse(output);
    } catch {
      return `the output is not JSON: ${output.slice(0, 300)}`;
    }
    return mismatch(parsed, actual, '(output)');
  }
  const lines = output.trimEnd().split('\n');
  const samples = sample.split('\n');
  if (lines.length !== samples.length) {
    return `${lines.length} lines of output, the guide shows ${samples.length}:\n${output}`;
  }
  for (const [i, line] of samples.entries()) {
    if (!wildcard(line.trim()).test((lines[i] ?? '').trim())) {
      return `line ${i + 1}: ${JSON.stringify(lines[i])} is not ${JSON.stringify(line)}`;
    }
  }
  return undefined;
}

/** The guides: README.md and every docs/*.md, as paths relative to the project root. */
export function guideFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));
  return ['README.md', ...docs.sort().map((f) => `docs/${f}`)];
}
