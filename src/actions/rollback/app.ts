import * as core from '@actions/core';

import { clause, errorMessage } from '../../common/errors';
import { onCleanup } from '../../process/cleanup';
import { checkoutCommit } from '../../process/git';
import { runHook } from '../../process/hooks';

import type { Inputs } from './inputs';

async function shell(what: string, command: string, cwd: string, timeoutMs: number): Promise<void> {
  const { failure } = await runHook(what, command, { cwd, timeoutMs });
  if (failure !== undefined) throw new Error(`${failure}.`);
}

/**
 * The application around the database swap: stopped before it, its code reverted and started after
 * it. Until the swap it is restarted on every exit path (old code, old database: consistent); after
 * the swap it is only started on code that matches the restored database.
 */
export class Application {
  private stopped = false;
  /** False once the database was swapped: from then on only `start()` may start the app. */
  private restartOnExit = true;
  private restart?: () => Promise<void>;

  constructor(private readonly inputs: Inputs) {}

  get hasStop(): boolean {
    return this.inputs.stopCommand !== undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  async stop(): Promise<void> {
    const { stopCommand, startCommand, appDir } = this.inputs;
    if (!stopCommand) return;
    if (!this.restart && startCommand) {
      this.restart = onCleanup('start the application again', async () => {
        if (!this.stopped || !this.restartOnExit) return;
        core.warning(
          'The rollback did not swap the database: starting the application again on its current code and database.',
        );
        await this.start();
      });
    }
    this.stopped = true;
    await shell('stop-command', stopCommand, appDir, this.inputs.hookTimeoutMs);
  }

  /** Before the swap: starts the stopped application again now (it also runs on any exit path). */
  async restartIfAllowed(): Promise<void> {
    await this.restart?.();
  }

  /** Called once the database is swapped: the old code must not be started on it any more. */
  holdAfterSwap(): void {
    this.restartOnExit = false;
  }

  /** Reverts the code: `git checkout --detach <commit>` in app-dir, then `revert-command`. */
  async revert(commit: string | undefined): Promise<string> {
    const done: string[] = [];
    if (commit) {
      await checkoutCommit(this.inputs.appDir, commit);
      done.push(`checked out ${commit.slice(0, 12)}`);
    }
    if (this.inputs.revertCommand) {
      await shell('revert-command', this.inputs.revertCommand, this.inputs.appDir, this.inputs.hookTimeoutMs);
      done.push('revert-command ran');
    }
    return done.join(', ');
  }

  async start(): Promise<void> {
    if (!this.inputs.startCommand) return;
    await shell('start-command', this.inputs.startCommand, this.inputs.appDir, this.inputs.hookTimeoutMs);
    this.stopped = false;
  }

  /** After a failed health check: stop it again, so nothing serves from a state that failed its checks. */
  async stopAgain(): Promise<string> {
    if (!this.inputs.stopCommand) return 'no stop-command: the application was left as it is';
    try {
      await shell('stop-command', this.inputs.stopCommand, this.inputs.appDir, this.inputs.hookTimeoutMs);
      this.stopped = true;
      return 'the application was stopped again (stop-command)';
    } catch (error) {
      return `stopping the application again failed: ${clause(errorMessage(error))}`;
    }
  }
}

/** Polls every URL until each has answered 2xx once, or the timeout passes. Returns what failed last. */
export async function waitHealthy(
  urls: readonly string[],
  timeoutMs: number,
  headers: Record<string, string> = {},
  intervalMs = 1000,
): Promise<Map<string, string>> {
  const pending = new Map(urls.map((u) => [u, 'no answer yet']));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const url of [...pending.keys()]) {
      try {
        const r = await fetch(url, {
          headers,
          signal: AbortSignal.timeout(Math.max(500, Math.min(5000, deadline - Date.now()))),
          redirect: 'manual',
        });
        await r.body?.cancel().catch(() => undefined);
        if (r.status >= 200 && r.status < 300) pending.delete(url);
        else pending.set(url, `HTTP ${r.status}`);
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        pending.set(url, cause ?? errorMessage(error));
      }
    }
    if (pending.size === 0 || Date.now() >= deadline) return pending;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
