/** Free ports for tests (the runtime's own helper, so both agree on what "free" means). */
import { freePort } from '../../lib/local/ports.js';

export { freePort };

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
