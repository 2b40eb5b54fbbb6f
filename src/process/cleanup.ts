import * as core from '@actions/core';

import { errorMessage } from '../common/errors';
import { scrub } from '../common/secrets';

import { killActiveChildren } from './runner';

type Hook = { name: string; fn: () => Promise<void> };

const hooks: Hook[] = [];
let signalled: NodeJS.Signals | undefined;
let installed = false;

/**
 * Registers a cleanup that must run on every exit path: success, failure, and SIGTERM/SIGINT
 * (a cancelled workflow run). Returns a function that runs it now (once) and unregisters it.
 */
export function onCleanup(name: string, fn: () => Promise<void>): () => Promise<void> {
  installSignalHandlers();
  const hook: Hook = { name, fn };
  hooks.push(hook);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
    await fn();
  };
}

/** Runs every pending cleanup, last registered first; a failing one is reported and the rest still run. */
export async function runCleanups(): Promise<string[]> {
  const failures: string[] = [];
  while (hooks.length > 0) {
    const hook = hooks.pop() as Hook;
    try {
      await hook.fn();
    } catch (error) {
      const message = `Cleanup "${hook.name}" failed: ${scrub(errorMessage(error))}`;
      core.error(message);
      failures.push(message);
    }
  }
  return failures;
}

/** The signal that interrupted this run, if any. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return signalled;
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = signal;
      core.error(`Received ${signal}: stopping child processes and running cleanups before exit.`);
      killActiveChildren();
      void runCleanups().finally(() => {
        process.exit(signal === 'SIGTERM' ? 143 : 130);
      });
    });
  }
}
