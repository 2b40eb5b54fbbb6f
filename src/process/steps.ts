import { statSync } from 'node:fs';

import * as core from '@actions/core';

import { formatSeconds } from '../report/format';

import { interruptedBy } from './cleanup';
import { runHook } from './hooks';
import type { PlanStep } from './plan';
import { runShell, type RunResult } from './runner';

export type StepStatus = 'succeeded' | 'failed' | 'timed-out' | 'cancelled' | 'not-run';

/** How one command of the run ended. */
export interface StepOutcome {
  name: string;
  /** `step` for a plan step; otherwise the hook (maintenance-on, stop, …). */
  kind: 'step' | 'hook';
  status: StepStatus;
  exitCode: number | null;
  signal: string | null;
  seconds: number;
  /** One line: exit code, signal or timeout. */
  detail: string;
  /** The command's last lines of output when it did not succeed (stderr, or stdout when stderr is empty). */
  tail?: string[];
}

/** The last `n` non-empty lines of a command's stderr, or of its stdout when it wrote no stderr. */
export function lastLines(result: Pick<RunResult, 'stdout' | 'stderr'>, n = 8): string[] {
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');
  const err = lines(result.stderr);
  return (err.length > 0 ? err : lines(result.stdout)).slice(-n);
}

export interface ExecOptions {
  /** Variables every command receives (the target database, session guards). */
  env: Record<string, string | undefined>;
  /** Directory for commands that name none. */
  cwd: string;
  /** Timeout for steps that name none, milliseconds. */
  defaultTimeoutMs: number;
}

function outcomeOf(
  name: string,
  kind: StepOutcome['kind'],
  result: RunResult,
  timeoutMs: number,
): StepOutcome {
  const seconds = result.durationMs / 1000;
  let status: StepStatus = 'succeeded';
  let detail = `exit code 0 after ${formatSeconds(seconds)}`;
  if (result.timedOut) {
    status = 'timed-out';
    detail = `timed out after ${formatSeconds(timeoutMs / 1000)} and was killed`;
  } else if (interruptedBy() && (result.signal || result.exitCode !== 0)) {
    status = 'cancelled';
    detail = `stopped by ${interruptedBy() ?? 'a signal'} (the run was cancelled)`;
  } else if (result.signal) {
    status = 'failed';
    detail = `killed by ${result.signal} after ${formatSeconds(seconds)}`;
  } else if (result.exitCode !== 0) {
    status = 'failed';
    detail = `exit code ${String(result.exitCode)} after ${formatSeconds(seconds)}`;
  }
  const outcome: StepOutcome = {
    name,
    kind,
    status,
    exitCode: result.exitCode,
    signal: result.signal,
    seconds,
    detail,
  };
  if (status !== 'succeeded') outcome.tail = lastLines(result);
  return outcome;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** Runs one command (a step or a hook) in its own log group and reports how it ended. */
export async function runCommand(
  name: string,
  kind: StepOutcome['kind'],
  command: string,
  options: ExecOptions & { title: string; timeoutMs?: number; stepEnv?: Record<string, string> },
): Promise<StepOutcome> {
  const timeoutMs = options.timeoutMs ?? options.defaultTimeoutMs;
  if (!isDirectory(options.cwd)) {
    // bash would fail with a confusing "spawn ENOENT"; say what is missing instead.
    const detail = `working directory ${options.cwd} does not exist`;
    core.info(`${options.title}: failed (${detail})`);
    return { name, kind, status: 'failed', exitCode: null, signal: null, seconds: 0, detail };
  }
  const env = { ...options.env, ...options.stepEnv };
  const result =
    kind === 'hook'
      ? (
          await runHook(name, command, {
            cwd: options.cwd,
            env,
            timeoutMs: timeoutMs ?? 0,
            group: options.title,
          })
        ).result
      : await runShell(command, {
          cwd: options.cwd,
          env,
          timeoutMs,
          group: options.title,
          // A step never goes on once the action (and its lock) is gone.
          dieWithParent: true,
        });
  const outcome = outcomeOf(name, kind, result, timeoutMs);
  // The failure is reported once, by the action's own error line (with the command's last lines).
  core.info(`${options.title}: ${outcome.status} (${outcome.detail})`);
  return outcome;
}

/**
 * Runs the plan's steps in order, each in its own log group with its exit code and duration,
 * stopping at the first one that does not succeed. Steps after it are reported as `not-run`.
 * `events` see every start and result as it happens (so a cancellation can report the steps so far).
 */
export async function runPlanSteps(
  steps: readonly PlanStep[],
  options: ExecOptions,
  events: {
    onStart?: (step: PlanStep) => void | Promise<void>;
    onOutcome?: (outcome: StepOutcome) => void;
  } = {},
): Promise<StepOutcome[]> {
  const onOutcome = events.onOutcome ?? (() => undefined);
  const outcomes: StepOutcome[] = [];
  let stopped = false;
  for (const [i, step] of steps.entries()) {
    if (stopped || interruptedBy()) {
      const skipped: StepOutcome = {
        name: step.name,
        kind: 'step',
        status: 'not-run',
        exitCode: null,
        signal: null,
        seconds: 0,
        detail: 'not run',
      };
      outcomes.push(skipped);
      onOutcome(skipped);
      continue;
    }
    await events.onStart?.(step);
    const outcome = await runCommand(step.name, 'step', step.run, {
      ...options,
      title: `Step ${i + 1}/${steps.length}: ${step.name}`,
      timeoutMs: step.timeoutMs,
      stepEnv: step.env,
      cwd: step.workingDirectory ?? options.cwd,
    });
    outcomes.push(outcome);
    onOutcome(outcome);
    if (outcome.status !== 'succeeded') stopped = true;
  }
  return outcomes;
}
