/**
 * Keeps the console readable: in `npm start`, everything handlers print (Powertools JSON logs,
 * EMF metric lines, stray console output) is appended to a log file, while the runtime's own lines
 * still reach the terminal. Only `bin/local.ts` uses it; tests keep their output.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface CapturedOutput {
  /** Writes one line to the real stdout. */
  print(line: string): void;
  /** Writes one line to the real stderr. */
  printError(line: string): void;
  /** Puts stdout and stderr back. */
  restore(): void;
}

type Write = typeof process.stdout.write;

/**
 * Appends to the log file, creating its directory again when it is gone: `--fresh` wipes
 * `<dataDir>/logs` after the capture started, which used to lose every handler line of the run.
 */
function appendLine(logFile: string, chunk: string | Uint8Array): void {
  try {
    appendFileSync(logFile, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(logFile), { recursive: true });
    appendFileSync(logFile, chunk);
  }
}

export function captureProcessOutput(logFile: string): CapturedOutput {
  mkdirSync(dirname(logFile), { recursive: true });
  const stdoutWrite: Write = process.stdout.write.bind(process.stdout);
  const stderrWrite: Write = process.stderr.write.bind(process.stderr);
  const toFile = ((
    chunk: string | Uint8Array,
    encodingOrCallback?: unknown,
    callback?: unknown,
  ) => {
    try {
      appendLine(logFile, chunk);
    } catch {
      // A log line that cannot be written must not crash a handler.
    }
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (typeof done === 'function') (done as () => void)();
    return true;
  }) as Write;
  process.stdout.write = toFile;
  process.stderr.write = toFile;
  return {
    print: (line) => {
      stdoutWrite(`${line}\n`);
    },
    printError: (line) => {
      stderrWrite(`${line}\n`);
    },
    restore() {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
    },
  };
}
