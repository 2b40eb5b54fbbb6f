import * as core from '@actions/core';

import { formatBytes, formatSeconds } from './format';

export interface ProgressOptions {
  label: string;
  /** Expected total bytes, for the ETA; unknown when 0 or undefined. */
  expectedBytes?: number;
  intervalMs?: number;
  /** Where lines go; default `core.info`. */
  write?: (line: string) => void;
  now?: () => number;
}

/** One progress line: bytes so far, rate, and an ETA when the total is known. */
export function progressLine(
  label: string,
  bytes: number,
  elapsedMs: number,
  expectedBytes?: number,
): string {
  const seconds = Math.max(elapsedMs / 1000, 0.001);
  const rate = bytes / seconds;
  let line = `${label}: ${formatBytes(bytes)} in ${formatSeconds(seconds)} (${formatBytes(rate)}/s)`;
  if (expectedBytes && expectedBytes > 0) {
    const pct = Math.min(100, (bytes / expectedBytes) * 100);
    const remaining = rate > 0 ? Math.max(0, (expectedBytes - bytes) / rate) : undefined;
    line += `, ~${pct.toFixed(0)}% of ${formatBytes(expectedBytes)}`;
    if (remaining !== undefined && bytes < expectedBytes) line += `, ETA ${formatSeconds(remaining)}`;
  }
  return line;
}

/** Counts bytes and prints a progress line every few seconds until stopped. */
export class Progress {
  private bytes = 0;
  private readonly started: number;
  private readonly timer: NodeJS.Timeout;
  private readonly write: (line: string) => void;
  private readonly now: () => number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.write = options.write ?? ((line) => core.info(line));
    this.timer = setInterval(() => this.print(), options.intervalMs ?? 5000);
    this.timer.unref();
  }

  add(n: number): void {
    this.bytes += n;
  }

  get total(): number {
    return this.bytes;
  }

  print(): void {
    this.write(
      progressLine(this.options.label, this.bytes, this.now() - this.started, this.options.expectedBytes),
    );
  }

  /** Stops the timer and prints the final line. */
  stop(): void {
    clearInterval(this.timer);
    this.print();
  }
}
