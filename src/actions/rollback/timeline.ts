import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import type { Phase } from '../../report/summary';

/** The phases of the recovery, in order; the ones a run does not reach are reported as skipped. */
export const PHASES = ['verify', 'restore', 'checks', 'stop', 'swap', 'revert', 'start', 'health'] as const;
export type PhaseName = (typeof PHASES)[number];

/** Times each phase of the recovery (the RTO) and the database downtime. */
export class Timeline {
  private readonly started = Date.now();
  private readonly done = new Map<PhaseName, Phase>();
  private finishedAt?: number;
  /** From blocking connections to the live database until the new one accepts them. */
  downtimeMs?: number;

  /** Runs one phase inside a log group; its time and outcome are recorded even when it throws. */
  async phase<T>(name: PhaseName, fn: (note: (detail: string) => void) => Promise<T>): Promise<T> {
    const start = Date.now();
    let detail: string | undefined;
    core.startGroup(`Rollback: ${name}`);
    try {
      const result = await fn((d) => (detail = d));
      this.record(name, start, 'ok', detail);
      return result;
    } catch (error) {
      this.record(name, start, 'failed', errorMessage(error));
      throw error;
    } finally {
      core.endGroup();
    }
  }

  record(name: PhaseName, start: number, status: Phase['status'], detail?: string): void {
    const prev = this.done.get(name);
    const seconds = (Date.now() - start) / 1000 + (prev?.seconds ?? 0);
    this.done.set(name, { name, seconds, status, detail: detail ?? prev?.detail });
  }

  skip(name: PhaseName, detail: string): void {
    if (!this.done.has(name)) this.done.set(name, { name, seconds: 0, status: 'skipped', detail });
  }

  /** Changes the outcome of a phase that returned normally (a health check that timed out, say). */
  mark(name: PhaseName, status: Phase['status'], detail: string): void {
    const prev = this.done.get(name);
    if (prev) this.done.set(name, { ...prev, status, detail });
  }

  finish(): void {
    this.finishedAt ??= Date.now();
  }

  get totalSeconds(): number {
    return ((this.finishedAt ?? Date.now()) - this.started) / 1000;
  }

  phases(): Phase[] {
    return PHASES.map(
      (name) =>
        this.done.get(name) ?? { name, seconds: 0, status: 'skipped' as const, detail: 'not reached' },
    );
  }

  /** The `phases-json` output: every phase, the total and the downtime, in seconds. */
  toJson(): string {
    const round = (n: number): number => Math.round(n * 1000) / 1000;
    return scrub(
      JSON.stringify({
        phases: this.phases().map((p) => ({ name: p.name, seconds: round(p.seconds), status: p.status })),
        total: round(this.totalSeconds),
        downtime: this.downtimeMs === undefined ? null : round(this.downtimeMs / 1000),
      }),
    );
  }
}
