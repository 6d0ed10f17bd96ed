/**
 * The campaigns context's own settings (the kernel keeps the windows several contexts share:
 * `settings.leaseSeconds`, `settings.reconcileWindowSeconds`). Read by `deps.ts` and the start-up
 * checks (`npm start`, `cdk synth`), never below a handler.
 */
import { ConfigurationError, seconds, settings } from '../kernel/config.js';

export const campaignSettings = {
  /** The longest one provider call (e.g. a WhatsApp send) may stay in flight before it is cut. */
  get providerTimeoutSeconds(): number {
    return seconds('ONCEFLOW_PROVIDER_TIMEOUT_SECONDS', 10);
  },
};

/**
 * Why a reconcile window / provider timeout pair would break the at-most-once promise, or
 * undefined when it is safe: recovery treats a send with no evidence after the window as finished,
 * so a window that does not exceed the provider call timeout lets it settle (and, under
 * `retry_once`, release) a contact whose call is still running — two senders, two messages.
 */
export function reconcileWindowProblem(
  reconcileWindowSeconds: number,
  providerTimeoutSeconds: number,
): string | undefined {
  if (reconcileWindowSeconds > providerTimeoutSeconds) return undefined;
  return (
    `ONCEFLOW_RECONCILE_WINDOW_SECONDS (${reconcileWindowSeconds}) must exceed ` +
    `ONCEFLOW_PROVIDER_TIMEOUT_SECONDS (${providerTimeoutSeconds}): a window that ends while a ` +
    'provider call can still be in flight allows a second send'
  );
}

/** Refuses to run with a window that does not exceed the provider call timeout (at init). */
export function assertSafeReconcileWindow(): void {
  const problem = reconcileWindowProblem(
    settings.reconcileWindowSeconds,
    campaignSettings.providerTimeoutSeconds,
  );
  if (problem) throw new ConfigurationError(problem);
}
