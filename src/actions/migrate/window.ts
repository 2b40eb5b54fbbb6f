import { interruptedBy } from '../../process/cleanup';
import { runCommand, runPlanSteps, type ExecOptions } from '../../process/steps';

import type { Inputs } from './inputs';
import type { RunRecord } from './state';

/**
 * Runs the migration window: maintenance on, workers stopped, the plan's steps, then workers
 * started and maintenance off. Before the first step nothing has changed, so a failing hook is
 * undone (workers started, maintenance off). Once a step has started and one fails, maintenance
 * stays on and workers stay stopped: the system must not serve, or run old code against, a
 * half-migrated database.
 */
export async function runWindow(
  inputs: Inputs,
  env: ExecOptions['env'],
  record: RunRecord,
  /** Told as each command starts, and waited for (the run's marker on the server). */
  progress: (current: string, step: boolean) => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const options: ExecOptions = { env, cwd: inputs.workingDirectory, defaultTimeoutMs: inputs.stepTimeoutMs };
  const hook = async (name: string, command: string | undefined): Promise<boolean> => {
    if (command === undefined) return true;
    if (interruptedBy()) return false;
    record.current = { name, kind: 'hook', started: Date.now() };
    await progress(name, false);
    const outcome = await runCommand(name, 'hook', command, {
      ...options,
      title: `Hook: ${name}`,
      timeoutMs: inputs.hookTimeoutMs,
    });
    record.record(outcome);
    return outcome.status === 'succeeded';
  };
  const restore = async (): Promise<void> => {
    if (record.workersStopped && (await hook('start', inputs.hooks.start))) record.workersStopped = false;
    if (record.maintenanceOn && (await hook('maintenance-off', inputs.hooks.maintenanceOff)))
      record.maintenanceOn = false;
  };

  // A hook that fails midway may have half-done its work, so the flag is set before it runs.
  if (inputs.hooks.maintenanceOn !== undefined) {
    record.maintenanceOn = true;
    if (!(await hook('maintenance-on', inputs.hooks.maintenanceOn))) return restore();
  }
  if (inputs.hooks.stop !== undefined) {
    record.workersStopped = true;
    if (!(await hook('stop', inputs.hooks.stop))) return restore();
  }
  if (interruptedBy()) return;

  record.stepsStarted = true;
  await runPlanSteps(inputs.steps, options, {
    onStart: async (step) => {
      record.current = { name: step.name, kind: 'step', started: Date.now() };
      await progress(step.name, true);
    },
    onOutcome: (outcome) => record.record(outcome),
  });
  if (!record.stepsFinished) return;
  // Workers first, so the application is whole when traffic comes back.
  await restore();
}
