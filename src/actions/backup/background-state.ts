import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { interruptedBy, onCleanup } from '../../process/cleanup';
import { isAlive, logTail, procStat, readProcessRecord } from '../../process/detached';
import type { Phase } from '../../report/summary';

import type { BackupOutputs } from './outputs';
import type { SummaryFacts } from './report';

/** The facts of a finished background backup that its waiting step reports (no secrets, no row counts). */
export type BackgroundFacts = SummaryFacts;

/**
 * `<id>.background.json` in output-dir: written by the background process when it starts (status
 * `running`, its pid) and when it ends (`verified` or `failed`, with the outputs and facts to
 * report); always atomically, so a reader sees one whole version or the one before.
 */
export interface BackgroundRecord {
  backupId: string;
  pid: number;
  /** The process's start time in clock ticks since boot (`/proc/<pid>/stat`), to tell a reused pid. */
  procStart?: string;
  started: string;
  logFile: string;
  status: 'running' | 'verified' | 'failed';
  finished?: string;
  error?: string;
  outputs?: BackupOutputs;
  phases?: Phase[];
  facts?: BackgroundFacts;
  /** `engine: pgbackrest`: the restore point once written (the step that started the process waits for it). */
  point?: { lsn: string; segment: string; createdAt: string };
  /** `engine: pgbackrest`: the manifest written once the evidence is read. */
  pitr?: { manifestPath: string };
}

export { isAlive, logTail, procStat };

/** The files of one background backup. */
export function backgroundFiles(outputDir: string, id: string): { state: string; log: string } {
  return {
    state: path.join(outputDir, `${id}.background.json`),
    log: path.join(outputDir, `${id}.background.log`),
  };
}

/** Writes the record atomically (temp file, fsync, rename). */
export async function writeRecord(file: string, record: BackgroundRecord): Promise<void> {
  const tmp = `${file}.partial`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  const handle = await open(tmp, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** This process's first record: running, with its pid and start time (to tell a reused pid). */
export async function startRecord(
  files: { state: string; log: string },
  backupId: string,
): Promise<BackgroundRecord> {
  const record: BackgroundRecord = {
    backupId,
    pid: process.pid,
    procStart: procStat('self')?.start,
    started: new Date().toISOString(),
    logFile: files.log,
    status: 'running',
  };
  await writeRecord(files.state, record);
  return record;
}

/** Reads the record; `undefined` when there is none. */
export function readRecord(file: string): Promise<BackgroundRecord | undefined> {
  return readProcessRecord<BackgroundRecord>(
    file,
    'a background backup record',
    (d) =>
      typeof d.backupId === 'string' &&
      typeof d.pid === 'number' &&
      ['running', 'verified', 'failed'].includes(d.status ?? ''),
  );
}

/**
 * Registers the recording of a background process's result for when it is stopped or fails
 * unexpectedly (registered first, so it runs last: after the other cleanups, the record says the
 * run failed). Returns the call that records the normal end instead; after it, the cleanup does
 * nothing.
 */
export function recordOnCleanup(
  what: string,
  finish: (failure: unknown) => Promise<void>,
): (failure: unknown) => Promise<void> {
  let recorded = false;
  const cancel = onCleanup('record the background result', async () => {
    if (recorded) return;
    recorded = true;
    const signal = interruptedBy();
    await finish(
      new Error(signal ? `${what} was stopped by ${signal}` : `${what} ended early on an unexpected failure`),
    );
  });
  return async (failure) => {
    recorded = true;
    await cancel();
    await finish(failure);
  };
}
