import * as core from '@actions/core';

import { SafetyError, errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import type { BackupManifest } from '../../manifest';
import type { RollbackNames } from '../../postgres/side-names';
import type { Session } from '../../postgres/swap';
import { interruptedBy } from '../../process/cleanup';

import { Timeline } from './timeline';

export type Verdict = 'restored' | 'unhealthy' | 'refused' | 'failed';

/** What the run did so far: the report is written from it on every exit path. */
export class RunState {
  readonly timeline = new Timeline();
  verdict?: Verdict;
  /** What the report names: the backup (of either engine). */
  manifest?: Pick<BackupManifest, 'backupId' | 'finishedAt'>;
  names?: RollbackNames;
  /** True once the live database was changed (renamed away or dropped). */
  swapped = false;
  /** The live database's connections were blocked and not re-allowed yet, or it was dropped. */
  touched = false;
  restoredFrom?: string;
  /** Downtime an interrupted run left (its blocked window), given back and counted by this run. */
  priorDowntimeMs?: number;
  failedDatabase?: string;
  terminated: Session[] = [];
  notes: string[] = [];
  error?: string;
  /** Why the application was left stopped, said loudly in the summary. */
  leftStopped?: string;
  /** Set when the run leaves the database down (a cluster that did not start): the summary's first line. */
  databaseDown?: string;
  /** Shell commands that put a kept data directory back (strategy pitr, after a failed start). */
  putBack?: string[];

  constructor(readonly database: string) {}

  note(text: string): void {
    this.notes.push(scrub(text));
  }

  /** The recovery time against max-duration: a warning, or (on-slow: fail) a thrown refusal. */
  checkDuration(maxMs: number, onSlow: 'fail' | 'warn'): void {
    const total = this.timeline.totalSeconds;
    if (total * 1000 <= maxMs) return;
    const message = `The rollback took ${total.toFixed(1)}s, over max-duration (${maxMs / 1000}s).`;
    if (onSlow === 'fail') throw new SafetyError(message);
    core.warning(message, { title: 'Rollback slower than max-duration' });
    this.note(message);
  }

  /** Records a thrown error: before any change it is a refusal, after one a failure. */
  fail(error: unknown): void {
    this.error = scrub(errorMessage(error));
    if (this.verdict) return;
    // Whatever the error (a refused check, a TLS handshake, a permission), a run that changed
    // nothing refused; a cancelled run failed (it did not decide), and so did one that changed something.
    this.verdict = !this.swapped && !this.touched && !interruptedBy() ? 'refused' : 'failed';
  }

  /** Something could not be put back as it was (the application not started again): not a refusal. */
  changedAfterAll(): void {
    if (this.verdict === 'refused') this.verdict = 'failed';
  }
}
