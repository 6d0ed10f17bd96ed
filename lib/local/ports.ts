/** Port helpers: pick a free port, and check a configured one before anything starts. */
import { createServer } from 'node:net';

/** A port that was free a moment ago on `host` (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on `port` at `host`. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly variable: string,
    readonly port: number,
  ) {
    super(
      `${variable} ${port} is already in use (another onceflow runtime still running?); free it or set ${variable}`,
    );
  }
}

/** Throws `PortInUseError` for the first named port that is taken. Port 0 means "any". */
export async function assertPortsFree(
  ports: Readonly<Record<string, number>>,
  host = '127.0.0.1',
): Promise<void> {
  for (const [variable, port] of Object.entries(ports)) {
    if (port !== 0 && !(await isPortFree(port, host))) throw new PortInUseError(variable, port);
  }
}
