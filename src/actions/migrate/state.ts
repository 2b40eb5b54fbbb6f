import type { PlannedMigration } from '../../postgres/django-plan';
import type { PlanStep } from '../../process/plan';
import type { StepOutcome } from '../../process/steps';
import type { Phase } from '../../report/summary';

export interface MigrationDiff {
  /** Planned by `migrate --plan` before the first step. */
  planned?: PlannedMigration[];
  /** `django_migrations` before the first step. */
  appliedBefore?: string[];
  /** Applied during this run (in `django_migrations` after, not before). */
  appliedNow?: string[];
  /** Still pending after the run (`showmigrations --plan`, `[ ]`). */
  pending?: string[];
  /** Why part of the picture is missing. */
  warning?: string;
}

/** Everything the run did so far: enough to report at any point, a cancellation included. */
export class RunRecord {
  /** Hooks and steps in the order they ran (the timeline). */
  readonly timeline: StepOutcome[] = [];
  /** The plan's steps with how each ended, `not-run` included. */
  readonly steps: StepOutcome[] = [];
  /** The command running now, if any (reported as cancelled when the run is stopped). */
  current?: { name: string; kind: StepOutcome['kind']; started: number };
  maintenanceOn = false;
  workersStopped = false;
  stepsStarted = false;
  /** The window ran to its end (success or a reported failure), not cut short by an error. */
  completed = false;
  cancelled?: string;
  failed?: StepOutcome;
  /** An earlier run that was killed without reporting, as its marker on the server tells. */
  earlier?: string;
  django: MigrationDiff = {};

  constructor(readonly plan: readonly PlanStep[]) {}

  /** Records a finished command; the first one that did not succeed is the failure. */
  record(outcome: StepOutcome): void {
    this.current = undefined;
    if (outcome.kind === 'step') this.steps.push(outcome);
    if (outcome.status !== 'not-run') this.timeline.push(outcome);
    if (!this.failed && outcome.status !== 'succeeded' && outcome.status !== 'not-run') this.failed = outcome;
  }

  /** On cancellation: the command running now is recorded as cancelled. */
  closeCancelled(signal: string): void {
    this.cancelled = signal;
    const running = this.current;
    if (running) {
      this.record({
        name: running.name,
        kind: running.kind,
        status: 'cancelled',
        exitCode: null,
        signal,
        seconds: (Date.now() - running.started) / 1000,
        detail: `stopped by ${signal} (the run was cancelled)`,
      });
    }
  }

  get succeeded(): boolean {
    return this.completed && !this.failed && !this.cancelled;
  }

  /** A step started and the run did not succeed: the database may be half-migrated. */
  get rollbackRecommended(): boolean {
    return !this.succeeded && this.stepsStarted && !this.stepsFinished;
  }

  /** Every step of the plan ran and succeeded. */
  get stepsFinished(): boolean {
    return this.steps.length === this.plan.length && this.steps.every((s) => s.status === 'succeeded');
  }

  /** Every step of the plan with how it ended; steps never reached are `not-run`. */
  allSteps(): StepOutcome[] {
    return this.plan.map(
      (step, i) =>
        this.steps[i] ?? {
          name: step.name,
          kind: 'step',
          status: 'not-run',
          exitCode: null,
          signal: null,
          seconds: 0,
          detail: 'not run',
        },
    );
  }

  /** The steps as the `steps-json` output. */
  stepsJson(): { name: string; status: string; exitCode: number | null; seconds: number }[] {
    return this.allSteps().map((s) => ({
      name: s.name,
      status: s.status,
      exitCode: s.exitCode,
      seconds: Math.round(s.seconds * 100) / 100,
    }));
  }

  /** The timeline as summary phases (steps not reached shown as skipped). */
  phases(): Phase[] {
    const notRun = this.allSteps().filter((s) => s.status === 'not-run');
    return [...this.timeline, ...notRun].map((o) => ({
      name: o.kind === 'step' ? `step: ${o.name}` : o.name,
      seconds: o.seconds,
      status: o.status === 'succeeded' ? 'ok' : o.status === 'not-run' ? 'skipped' : 'failed',
      detail: o.status === 'succeeded' ? 'exit code 0' : o.detail,
    }));
  }
}
