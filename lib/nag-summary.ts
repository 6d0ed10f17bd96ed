/**
 * The one line `npx cdk synth` prints about cdk-nag: unsuppressed AwsSolutions errors and warnings
 * (each also printed by cdk-nag itself) and how many findings are suppressed with a reason.
 */
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';

export function nagSummary(assembly: CloudAssembly): string {
  let errors = 0;
  let warnings = 0;
  let suppressed = 0;
  for (const stack of assembly.stacks) {
    for (const message of stack.messages) {
      if (!String(message.entry.data).includes('AwsSolutions-')) continue;
      if (message.level === 'error') errors += 1;
      else if (message.level === 'warning') warnings += 1;
    }
    const resources = (stack.template as { Resources?: Record<string, { Metadata?: unknown }> })
      .Resources;
    for (const resource of Object.values(resources ?? {})) {
      const nag = (resource.Metadata as { cdk_nag?: { rules_to_suppress?: unknown[] } } | undefined)
        ?.cdk_nag;
      suppressed += nag?.rules_to_suppress?.length ?? 0;
    }
  }
  const verdict = errors === 0 && warnings === 0 ? 'clean' : 'FINDINGS';
  return `cdk-nag AwsSolutions: ${verdict} — ${errors} errors, ${warnings} warnings, ${suppressed} suppressed with reasons`;
}
