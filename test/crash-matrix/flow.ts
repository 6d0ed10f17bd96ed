/**
 * The deterministic crash matrix (`test/integration/whole-service/crash-matrix.test.ts`) arms every declared
 * failpoint once and drives the flow that passes through it to the end. Each pipeline contributes
 * its flows in a `test/crash-matrix/<pipeline>.flow.ts` file whose default export is a
 * `CrashFlow[]`; the matrix finds those files itself, so adding a pipeline needs no edit here.
 */

export interface CrashFlow {
  /** A short name for reports, e.g. `campaign send`. */
  readonly name: string;
  /** Every failpoint this flow passes through. A declared failpoint in no flow fails the matrix. */
  readonly failpoints: readonly string[];
  /**
   * Runs the flow with `point` armed once (probability 1, one hit), in-process against the
   * integration emulators: set up fresh state (a new tenant), drive the flow to completion through
   * whatever would happen after a real crash (handler retries, queue redelivery, recovery
   * schedules, clock jumps), then assert the pipeline's invariants, throwing on a violation. It must
   * also assert that `point` actually fired (`firedCount(point) === 1`), so a flow that never reaches
   * its point cannot pass.
   */
  run(point: string): Promise<void>;
}
