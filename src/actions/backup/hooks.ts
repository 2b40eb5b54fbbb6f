import * as core from '@actions/core';

import { SafetyError } from '../../common/errors';
import { onCleanup } from '../../process/cleanup';
import { runHook } from '../../process/hooks';
import { describeExit } from '../../process/runner';

/**
 * The `stop-command` / `start-command` pair. The start is registered as a cleanup before the stop
 * runs, so it runs on every exit path — a failed stop, a failed dump, a cancellation included.
 */
export class ServiceHooks {
  /** What the summary reports as the services' final state. */
  state = 'no stop-command or start-command given';
  private startNow: (() => Promise<void>) | undefined;

  constructor(
    private readonly stopCommand: string | undefined,
    private readonly startCommand: string | undefined,
    /** The action's `hook-timeout`. */
    private readonly timeoutMs: number,
  ) {}

  async stop(): Promise<void> {
    if (this.startCommand) {
      this.state = 'start-command pending';
      this.startNow = onCleanup('start-command', () => this.runStart());
    }
    if (!this.stopCommand) return;
    this.state = 'stopping';
    const { result: r, failure } = await runHook('stop-command', this.stopCommand, {
      timeoutMs: this.timeoutMs,
    });
    if (failure !== undefined) {
      this.state = `stop-command failed (${describeExit(r)})`;
      throw new SafetyError(`${failure}.`);
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
    const { result: r, failure } = await runHook('start-command', this.startCommand, {
      timeoutMs: this.timeoutMs,
    });
    if (failure !== undefined) {
      this.state = `START-COMMAND FAILED (${describeExit(r)}): the services may still be stopped`;
      core.error(`${failure}. The services stopped for the backup may still be down.`);
      throw new SafetyError(`${failure}; the services may still be stopped.`);
    }
    this.state = 'started again (start-command succeeded)';
  }
}
