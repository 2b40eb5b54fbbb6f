import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import type { Phase } from '../../report/summary';

/** Times each phase of the run and records how it ended, for the summary's table. */
export class Phases {
  readonly list: Phase[] = [];

  /** Runs `fn` as the phase `name`; a throw marks the phase failed and is passed on. */
  async run<T>(name: string, fn: () => Promise<T>, detail?: (value: T) => string): Promise<T> {
    const started = Date.now();
    core.info(`▶ ${name}`);
    try {
      const value = await fn();
      this.list.push({ name, seconds: (Date.now() - started) / 1000, status: 'ok', detail: detail?.(value) });
      return value;
    } catch (error) {
      this.list.push({
        name,
        seconds: (Date.now() - started) / 1000,
        status: 'failed',
        detail: errorMessage(error),
      });
      throw error;
    }
  }

  /** Records a phase that was skipped or ended with a warning. */
  note(name: string, status: Phase['status'], detail: string, seconds = 0): void {
    this.list.push({ name, seconds, status, detail });
  }

  /** Seconds per phase, for the manifest. */
  timings(): Record<string, number> {
    return Object.fromEntries(
      this.list.map((p) => [p.name.toLowerCase(), Math.round(p.seconds * 1000) / 1000]),
    );
  }
}
