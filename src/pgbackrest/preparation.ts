import { realpath } from 'node:fs/promises';
import path from 'node:path';

import { isAlive, procStat, readProcessRecord, stopProcess, type ProcessRef } from '../process/detached';

import { writeJsonFile } from './files';
import { stopServer, type ServerTools } from './side';

/**
 * `<pgdata>.pitr-prepare.json`: the record of a rollback prepared in the background (`prepare:
 * background`) — the process that restores and proves the side while the migration runs. Written
 * by that process (atomically) when it starts, at each step, and when it ends. The marker
 * (`<pgdata>.pitr-rollback.json`) says what the side holds; this record says who works on it.
 */
export interface PreparationRecord extends ProcessRef {
  started: string;
  /** The manifest it prepares for (it may wait for it: the evidence is still being read). */
  manifest: string;
  side: string;
  log: string;
  status: 'waiting' | 'restoring' | 'prepared' | 'failed' | 'stopped';
  /** Its latest step, or why it failed. */
  detail?: string;
  finished?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function preparationFiles(pgdata: string): { record: string; log: string } {
  return { record: `${pgdata}.pitr-prepare.json`, log: `${pgdata}.pitr-prepare.log` };
}

export function readPreparation(pgdata: string): Promise<PreparationRecord | undefined> {
  return readProcessRecord<PreparationRecord>(
    preparationFiles(pgdata).record,
    'a preparation record',
    (d) => typeof d.pid === 'number' && typeof d.side === 'string' && typeof d.status === 'string',
  );
}

export async function writePreparation(pgdata: string, record: PreparationRecord): Promise<void> {
  await writeJsonFile(preparationFiles(pgdata).record, record);
}

/** This process's first record (status `waiting`). */
export async function startPreparation(
  pgdata: string,
  what: { manifest: string; side: string },
): Promise<PreparationRecord> {
  const record: PreparationRecord = {
    pid: process.pid,
    procStart: procStat('self')?.start,
    started: new Date().toISOString(),
    log: preparationFiles(pgdata).log,
    status: 'waiting',
    ...what,
  };
  await writePreparation(pgdata, record);
  return record;
}

/** The preparation process still running on this data directory, if any. */
export async function runningPreparation(pgdata: string): Promise<PreparationRecord | undefined> {
  const r = await readPreparation(pgdata);
  return r && (r.status === 'waiting' || r.status === 'restoring') && isAlive(r) ? r : undefined;
}

/**
 * Stops a running preparation: SIGTERM to its process group (it stops its side server on the way
 * out), SIGKILL after 30 s, then the side's server if one still runs. The side's directory stays:
 * the marker still names it, so the next restore into it is a --delta. Returns the record as it was.
 */
export async function stopPreparation(
  pgdata: string,
  tools: ServerTools,
): Promise<PreparationRecord | undefined> {
  const r = await runningPreparation(pgdata);
  if (!r) return undefined;
  await stopProcess(r, 30_000);
  await stopServer(tools, r.side);
  const now = (await readPreparation(pgdata)) ?? r;
  if (now.status === 'waiting' || now.status === 'restoring')
    await writePreparation(pgdata, {
      ...now,
      status: 'stopped',
      detail: `stopped (${now.detail ?? now.status})`,
      finished: new Date().toISOString(),
    });
  return r;
}

/** Whether two paths name one file (false when only one exists or they differ). */
async function samePath(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([
    realpath(a).catch(() => path.resolve(a)),
    realpath(b).catch(() => path.resolve(b)),
  ]);
  return ra === rb;
}

/**
 * Waits for a running preparation to end (a rollback may come while its side is still being
 * restored or proven); past `timeoutMs` it is stopped and the rollback restores by itself. One for
 * another manifest than `forManifest` is stopped at once. `onWait`
 * is told every 10 s. Returns the record as it ended, or undefined when none ran.
 */
export async function waitForPreparation(
  pgdata: string,
  tools: ServerTools,
  timeoutMs: number,
  onWait: (r: PreparationRecord, seconds: number) => void,
  forManifest?: string,
): Promise<{ record: PreparationRecord; stopped: boolean; other?: boolean } | undefined> {
  let r = await runningPreparation(pgdata);
  if (!r) return undefined;
  if (forManifest !== undefined && (await samePath(r.manifest, forManifest)) === false) {
    // It prepares another point (or waits for a manifest that may never come): not this rollback's.
    await stopPreparation(pgdata, tools);
    return { record: (await readPreparation(pgdata)) ?? r, stopped: true, other: true };
  }
  const started = Date.now();
  let told = 0;
  while (r && isAlive(r) && (r.status === 'waiting' || r.status === 'restoring')) {
    const seconds = (Date.now() - started) / 1000;
    if (Date.now() - started >= timeoutMs) {
      await stopPreparation(pgdata, tools);
      return { record: (await readPreparation(pgdata)) ?? r, stopped: true };
    }
    if (Date.now() - told >= 10_000) {
      told = Date.now();
      onWait(r, seconds);
    }
    await sleep(250);
    r = (await readPreparation(pgdata)) ?? r;
  }
  return r ? { record: r, stopped: false } : undefined;
}
