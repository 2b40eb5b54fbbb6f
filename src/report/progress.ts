import * as core from '@actions/core';

import { formatBytes, formatSeconds } from './format';

/** How often a long phase says what it is doing (at most every 10 s, as the runner's log is watched). */
export const PROGRESS_INTERVAL_MS = 5000;

export interface PhaseProgressOptions {
  intervalMs?: number;
  /** Where lines go; default `core.info`. */
  write?: (line: string) => void;
  now?: () => number;
  /** Refreshes what `describe` reads (a query, a /proc read) before each line; a failure is ignored. */
  poll?: () => Promise<void>;
}

/**
 * Says what a long phase is doing every few seconds — measured facts (rows, bytes, tables done
 * of the tables there are), never a percentage of an estimate — and ends with a `done` line.
 */
export class PhaseProgress {
  private readonly started: number;
  private readonly timer: NodeJS.Timeout;
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private stopped = false;

  constructor(
    private readonly label: string,
    private readonly describe: () => string,
    private readonly options: PhaseProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.write = options.write ?? ((line) => core.info(line));
    this.timer = setInterval(() => void this.tick(), options.intervalMs ?? PROGRESS_INTERVAL_MS);
    this.timer.unref();
  }

  get elapsedSeconds(): number {
    return (this.now() - this.started) / 1000;
  }

  private async tick(): Promise<void> {
    if (this.options.poll) await this.options.poll().catch(() => undefined);
    this.print();
  }

  /** One line now: what the phase has done so far. */
  print(): void {
    if (this.stopped) return;
    const what = this.describe();
    this.write(`${this.label}: ${what}${what ? ', ' : ''}${formatSeconds(this.elapsedSeconds)} so far`);
  }

  /** Stops the lines and prints the last one: `done` (or `stopped` when the phase failed). */
  done(text?: string, failed = false): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const what = text ?? this.describe();
    this.write(
      `${this.label}: ${failed ? 'stopped' : 'done'}${what ? `, ${what}` : ''} in ${formatSeconds(this.elapsedSeconds)}`,
    );
  }
}

/** Bytes, rate, and the share of a known total (a file's or an object's size; never an estimate). */
export function bytesText(bytes: number, seconds: number, totalBytes?: number): string {
  const rate = bytes / Math.max(seconds, 0.001);
  let text = `${formatBytes(bytes)}`;
  if (totalBytes && totalBytes > 0) {
    text += ` of ${formatBytes(totalBytes)} (${Math.min(100, (bytes / totalBytes) * 100).toFixed(0)}%)`;
  }
  return `${text} at ${formatBytes(rate)}/s`;
}

export interface ProgressOptions extends PhaseProgressOptions {
  label: string;
  /** A known total (the object's size); no share is shown without one. */
  totalBytes?: number;
  /** More about where the phase is (the table being dumped), appended to each line. */
  detail?: () => string;
}

/** Counts bytes and says how many every few seconds, then `done`. */
export class Progress {
  private bytes = 0;
  private readonly phase: PhaseProgress;

  constructor(private readonly options: ProgressOptions) {
    this.phase = new PhaseProgress(options.label, () => this.text(), options);
  }

  private text(): string {
    const detail = this.options.detail?.() ?? '';
    return `${bytesText(this.bytes, this.phase.elapsedSeconds, this.options.totalBytes)}${detail ? `; ${detail}` : ''}`;
  }

  add(n: number): void {
    this.bytes += n;
  }

  get total(): number {
    return this.bytes;
  }

  print(): void {
    this.phase.print();
  }

  /** Stops the timer and prints the `done` line (`stopped` when the phase failed). */
  stop(failed = false): void {
    this.phase.done(undefined, failed);
  }
}
