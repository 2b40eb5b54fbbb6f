import { stat } from 'node:fs/promises';

import * as core from '@actions/core';

import { clause, errorMessage, SafetyError } from '../../common/errors';
import { exists, removeFile } from '../../common/files';
import { scrub } from '../../common/secrets';
import { readManifestFile } from '../../manifest';
import { readPitrManifestFile } from '../../pgbackrest/manifest';
import { stopProcess } from '../../process/detached';
import { formatSeconds } from '../../report/format';

import {
  backgroundFiles,
  isAlive,
  logTail,
  readRecord,
  writeRecord,
  type BackgroundRecord,
} from './background-state';
import type { WaitInputs } from './inputs';

const POLL_MS = 500;
const REPORT_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The last non-empty line of the background log: its latest progress. */
async function lastLine(log: string): Promise<string> {
  return scrub((await logTail(log, 1)).trim());
}

/**
 * Removes what a background process that did not finish left in output-dir under its id: the
 * partial dump and the partial manifest. Says what else exists (a dump it had already verified and
 * named, without a manifest, if it was killed between the two).
 */
async function leftovers(outputDir: string, id: string): Promise<string> {
  const base = `${outputDir}/${id}`;
  await removeFile(`${base}.dump.partial`);
  await removeFile(`${base}.manifest.json.partial`);
  const dump = (await exists(`${base}.dump`)) ? `${base}.dump` : undefined;
  const manifest = (await exists(`${base}.manifest.json`)) ? `${base}.manifest.json` : undefined;
  if (dump && !manifest)
    return ` A verified dump ${dump} exists but has no manifest: it is not a backup the other phases can use.`;
  return ' Its partial files were removed; no backup was made.';
}

/**
 * Waits until the background backup `waitFor` ends, printing its latest progress every 10 s, and
 * returns its record once it verified. Fails with one line saying what happened and where its log
 * is when it failed, when its process is gone without a result (killed), or when `waitTimeoutMs`
 * passes (then the process is stopped first). `seen.record` holds the last record read, for the
 * summary, whatever happens.
 */
export async function waitForBackground(
  w: WaitInputs,
  seen: { record?: BackgroundRecord },
): Promise<BackgroundRecord> {
  const files = backgroundFiles(w.outputDir, w.waitFor);
  let record = await readRecord(files.state);
  if (!record) {
    throw new SafetyError(
      `No background backup ${w.waitFor} in ${w.outputDir}: ${files.state} does not exist. ` +
        'wait-for must run in the same job as the dump: background step, with the same output-dir.',
    );
  }
  seen.record = record;
  const started = Date.now();
  const deadline = started + w.waitTimeoutMs;
  let reported = started;
  core.info(`Waiting for background backup ${w.waitFor} (pid ${record.pid}); its log: ${record.logFile}`);
  while (record.status === 'running') {
    if (!isAlive(record)) {
      // It may have written its result just before it exited.
      record = (await readRecord(files.state)) ?? record;
      seen.record = record;
      if (record.status !== 'running') break;
      const what = `its process (pid ${record.pid}) ended without a result: it was killed or crashed`;
      const left = await leftovers(w.outputDir, w.waitFor);
      await writeRecord(files.state, {
        ...record,
        status: 'failed',
        error: what,
        finished: new Date().toISOString(),
      });
      throw new SafetyError(
        `The background backup ${w.waitFor} failed: ${what}.${left} Its log: ${record.logFile}`,
      );
    }
    if (Date.now() >= deadline) {
      await stopProcess(record, 30_000);
      const left = await leftovers(w.outputDir, w.waitFor);
      const what = `it did not finish within wait-timeout (${formatSeconds(w.waitTimeoutMs / 1000)}) and was stopped`;
      const last = (await readRecord(files.state)) ?? record;
      seen.record = { ...last, status: 'failed', error: what };
      await writeRecord(files.state, seen.record);
      throw new SafetyError(
        `The background backup ${w.waitFor} failed: ${what}.${left} Its log: ${record.logFile}`,
      );
    }
    if (Date.now() - reported >= REPORT_MS) {
      reported = Date.now();
      core.info(
        `Still running after ${formatSeconds((reported - Date.parse(record.started)) / 1000)} (pid ${record.pid}): ${await lastLine(record.logFile)}`,
      );
    }
    await sleep(POLL_MS);
    record = (await readRecord(files.state)) ?? record;
    seen.record = record;
  }
  if (record.status === 'failed') {
    throw new SafetyError(
      `The background backup ${w.waitFor} failed: ${clause(record.error ?? 'no reason recorded')}. Its log: ${record.logFile}`,
    );
  }
  await checkVerified(record);
  return record;
}

/**
 * A verified record is re-read against what it names: the manifest exists and is the one for this
 * backup, and the dump file has the manifest's size and sha256 as the record says. (The sha256 of
 * the file was proven by the background process; the rollback checks it again before a restore.)
 */
async function checkVerified(record: BackgroundRecord): Promise<void> {
  const facts = record.facts ?? {};
  try {
    if (record.pitr) {
      const manifest = await readPitrManifestFile(record.pitr.manifestPath);
      if (manifest.backupId !== record.backupId) throw new Error(`the manifest is for ${manifest.backupId}`);
      return;
    }
    if (!facts.path || !facts.manifestPath) throw new Error('the record names no dump or manifest');
    const manifest = await readManifestFile(facts.manifestPath);
    const size = (await stat(facts.path)).size;
    if (manifest.backupId !== record.backupId) throw new Error(`the manifest is for ${manifest.backupId}`);
    if (manifest.dump.sha256 !== facts.sha256 || manifest.dump.sizeBytes !== size)
      throw new Error(`the dump ${facts.path} (${size} bytes) is not the one the manifest describes`);
  } catch (error) {
    throw new SafetyError(
      `The background backup ${record.backupId} reported success, but ${errorMessage(error)}. Its log: ${record.logFile}`,
    );
  }
}
