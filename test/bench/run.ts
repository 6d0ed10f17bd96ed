/**
 * `npm run bench -- <name>`: runs `test/bench/<name>.bench.ts`, whose default export prints its
 * figures beside a baseline measured in the same run. With no name, lists the benchmarks.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''));

const argv = process.argv.slice(2);
// The benches' only flag without a value; any other `--flag` takes the next argument as its value
// (`--deliveries 2000`, `--modes sources,bundles`), which is then no benchmark name.
const SWITCHES = new Set(['--json']);
const names = argv.filter((a, i) => {
  const previous = argv[i - 1] ?? '';
  const takesValue = /^--[^=]+$/.test(previous) && !SWITCHES.has(previous);
  return !a.startsWith('-') && !takesValue;
});
if (names.length === 0) {
  console.log(`usage: npm run bench -- <${available.join('|')}>`);
  process.exit(available.length === 0 ? 1 : 0);
}
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`no benchmark named ${name}; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const module = (await import(pathToFileURL(join(here, `${name}.bench.ts`)).href)) as {
    default: (args: string[]) => Promise<void>;
  };
  await module.default(process.argv.slice(2));
}
