import * as core from '@actions/core';

import { SafetyError } from '../../common/errors';
import { onCleanup } from '../../process/cleanup';
import { describeExit, runShell, succeeded } from '../../process/runner';

const HOOK_TIMEOUT_MS = 10 * 60_000;

/**
 * The `stop-command` / `start-command` pair. The start is registered as a cleanup before the stop
 * runs, so it runs on every exit path — a failed stop, a failed dump, a cancellation included.
 */
export class ServiceHooks {
  /** What the summary reports as the services' final state. */
  state = 'no stop-command or start-command given';
  private startNow: (() => Promise<void>) | undefined;

  constructor(
    private readonly stopCommand?: string,
    private readonly startCommand?: string,
  ) {}

  async stop(): Promise<void> {
    if (this.startCommand) {
      this.state = 'start-command pending';
      this.startNow = onCleanup('start-command', () => this.runStart());
    }
    if (!this.stopCommand) return;
    this.state = 'stopping';
    const r = await runShell(this.stopCommand, { timeoutMs: HOOK_TIMEOUT_MS, group: 'stop-command' });
    if (!succeeded(r)) {
      this.state = `stop-command failed (${describeExit(r)})`;
      throw new SafetyError(`stop-command failed: ${describeExit(r)}.`);
    }
    this.state = this.startCommand
      ? 'stopped; start-command pending'
      : 'stopped (no start-command given: left stopped)';
  }

  /** Runs the start-command now (once), if it is pending. */
  async start(): Promise<void> {
    await this.startNow?.();
  }

  private async runStart(): Promise<void> {
    if (!this.startCommand) return;
    const r = await runShell(this.startCommand, { timeoutMs: HOOK_TIMEOUT_MS, group: 'start-command' });
    if (!succeeded(r)) {
      this.state = `START-COMMAND FAILED (${describeExit(r)}): the services may still be stopped`;
      core.error(
        `start-command failed: ${describeExit(r)}. The services stopped for the backup may still be down.`,
      );
      throw new SafetyError(`start-command failed: ${describeExit(r)}; the services may still be stopped.`);
    }
    this.state = 'started again (start-command succeeded)';
  }
}
