import type { SwapMarker } from '../../../postgres/swap-marker';
import type { Application } from '../app';
import type { Inputs } from '../inputs';
import type { RunState } from '../state';
import type { Verified } from '../verify';

/** What a strategy works with: the inputs, the run's record, the application and the verified backup. */
export interface StrategyRun {
  inputs: Inputs;
  state: RunState;
  app: Application;
  v: Verified;
}

/** A replacement that is ready and proven: what is left is the cut-over, once the application is stopped. */
export interface Prepared {
  /**
   * Puts the replacement under the live name. Records the downtime in the timeline and, once the live
   * database was changed, `state.swapped`.
   */
  cutOver(): Promise<void>;
}

/** What an earlier run left on the server, for deciding whether it got past its cut-over. */
export interface EarlierRun {
  /** The marker on the live database, if any. */
  marker: SwapMarker | undefined;
  /** The database the marker names as the kept previous one exists. */
  markedFailedExists: boolean;
  backupId: string;
  live: string;
}

/**
 * One way of putting a backup back. The action runs `prepare` (nothing live is changed there; a
 * failure is a refusal), stops the application, then runs the cut-over. A new strategy is a new
 * file in this folder and one entry in `STRATEGIES` (`./index.ts`).
 */
export interface RollbackStrategy {
  /** Input checks beyond the common ones, before any side effect (throws a `ConfigurationError`). */
  checkInputs?(inputs: { allowDestructive: boolean }): void;
  /** Prepares the replacement and proves it matches the manifest. */
  prepare(run: StrategyRun): Promise<Prepared>;
  /**
   * Whether an earlier run from the same backup already cut over (and did not finish): the rerun
   * then goes on with the code, the start and the health check only. Decided from what that run
   * wrote on the server, never from a matching fingerprint.
   */
  cutOverDone(earlier: EarlierRun): boolean;
}
