import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import type { Phase } from '../../report/summary';

/** Times each phase of the run and records how it ended, for the summary's table. */
export class Phases {
  readonly list: Phase[] = [];

  /** `origin`: when the run began (ms since the epoch), so each phase's start is placed on one timeline. */
  constructor(private readonly origin = Date.now()) {}

  private since(started: number): number {
    return Math.round(started - this.origin) / 1000;
  }

  /** Runs `fn` as the phase `name`; a throw marks the phase failed and is passed on. */
  async run<T>(name: string, fn: () => Promise<T>, detail?: (value: T) => string): Promise<T> {
    const started = Date.now();
    core.info(`▶ ${name}`);
    try {
      const value = await fn();
      this.list.push({
        name,
        seconds: (Date.now() - started) / 1000,
        status: 'ok',
        detail: detail?.(value),
        startSeconds: this.since(started),
      });
      return value;
    } catch (error) {
      this.list.push({
        name,
        seconds: (Date.now() - started) / 1000,
        status: 'failed',
        detail: errorMessage(error),
        startSeconds: this.since(started),
      });
      throw error;
    }
  }

  /** Records a phase that was skipped or ended with a warning. */
  note(name: string, status: Phase['status'], detail: string, seconds = 0): void {
    this.list.push({ name, seconds, status, detail, startSeconds: this.since(Date.now() - seconds * 1000) });
  }

  /** Seconds per phase, for the manifest. */
  timings(): Record<string, number> {
    return Object.fromEntries(
      this.list.map((p) => [p.name.toLowerCase(), Math.round(p.seconds * 1000) / 1000]),
    );
  }
}
