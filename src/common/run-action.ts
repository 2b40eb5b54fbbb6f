import * as core from '@actions/core';

import { runCleanups } from '../process/cleanup';
import { killActiveChildren } from '../process/runner';

import { AnnotatedError, errorMessage } from './errors';
import { scrub } from './secrets';

/**
 * The one wrapper around an action's `run()`: any thrown value becomes `core.setFailed` with one
 * clear, scrubbed line; cleanups (start hooks, lock release, connections) run on every exit path.
 * A promise rejected where nothing awaits it (which would otherwise end Node with a raw stack, no
 * error line and no cleanup) fails the run the same way: its child processes are stopped, the
 * cleanups run, and the process exits, since the rest of `run()` can no longer be trusted.
 */
export async function runAction(run: () => Promise<void>): Promise<void> {
  let unhandled: ((reason: unknown) => void) | undefined;
  const stray = new Promise<never>((_, reject) => (unhandled = reject));
  stray.catch(() => undefined);
  let strayRejection = false;
  let settled = false;
  const onUnhandled = (reason: unknown): void => {
    const message = `Unexpected failure (a promise rejected with nothing awaiting it): ${errorMessage(reason)}`;
    if (settled) {
      // After run() ended (in a cleanup): the run still fails, with one line.
      core.setFailed(scrub(message));
    } else if (!strayRejection) {
      strayRejection = true;
      unhandled?.(new Error(message));
    }
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await Promise.race([run(), stray]).finally(() => (settled = true));
  } catch (error) {
    if (strayRejection) killActiveChildren();
    if (error instanceof AnnotatedError) {
      // setFailed's own error line, with the annotation's title and place.
      process.exitCode = core.ExitCode.Failure;
      core.error(scrub(error.message), { ...error.annotation, title: scrub(error.annotation.title) });
    } else {
      core.setFailed(scrub(errorMessage(error)));
    }
  } finally {
    const failures = await runCleanups();
    if (failures.length > 0 && process.exitCode !== 1) {
      core.setFailed(failures.join('; '));
    }
  }
  if (strayRejection) process.exit(1);
  process.off('unhandledRejection', onUnhandled);
}
