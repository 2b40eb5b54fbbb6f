import { describeExit, runProcess, runShell, succeeded, type RunResult } from './runner';

export interface HookOptions {
  /** Working directory of the hook. */
  cwd?: string;
  /** The action's `hook-timeout`: the hook's process group is killed after this many milliseconds. */
  timeoutMs: number;
  /** Variables added to (or, with `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Title of the hook's log group; default the hook's name. */
  group?: string;
}

export interface HookResult {
  /** How the process ended. */
  result: RunResult;
  ok: boolean;
  /** `<name> failed: <how it exited>` or `<name> timed out after <n>s`; undefined when it succeeded. */
  failure?: string;
}

/** One line saying how a hook that did not succeed ended, naming the hook. */
export function describeHookFailure(name: string, result: RunResult): string {
  if (result.timedOut) return `${name} timed out after ${Math.round(result.durationMs / 1000)}s`;
  return `${name} failed: ${describeExit(result)}`;
}

/** A hook's default when the user gave none: a program and its arguments, run without a shell. */
export interface HookProgram {
  file: string;
  args: readonly string[];
}

/**
 * Runs one of the user's service hooks (a stop, start, revert or maintenance command) through the
 * shell, or the suite's default for it (a `HookProgram`, no shell), in its own log group named
 * after it, killed with its whole process group after `timeoutMs`. Always with `dieWithParent`: a
 * hook orphaned by a killed run must not go on, since what it changes is what the run's lock
 * protects. What the hook leaves running on purpose (a server it started) is not touched.
 */
export async function runHook(
  name: string,
  command: string | HookProgram,
  options: HookOptions,
): Promise<HookResult> {
  const run = {
    cwd: options.cwd,
    env: options.env,
    timeoutMs: options.timeoutMs,
    group: options.group ?? name,
    dieWithParent: true,
  };
  const result =
    typeof command === 'string'
      ? await runShell(command, run)
      : await runProcess(command.file, command.args, run);
  const ok = succeeded(result);
  return ok ? { result, ok } : { result, ok, failure: describeHookFailure(name, result) };
}
