import * as core from '@actions/core';

import { runCleanups } from '../process/cleanup';

import { errorMessage } from './errors';
import { scrub } from './secrets';

/**
 * The one wrapper around an action's `run()`: any thrown value becomes `core.setFailed` with one
 * clear, scrubbed line; cleanups (start hooks, lock release, connections) run on every exit path.
 */
export async function runAction(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    core.setFailed(scrub(errorMessage(error)));
  } finally {
    const failures = await runCleanups();
    if (failures.length > 0 && process.exitCode !== 1) {
      core.setFailed(failures.join('; '));
    }
  }
}
