import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { readPitrManifestFile } from '../../pgbackrest/manifest';

import { BACKGROUND_ENV } from './background';
import { runBackgroundChild } from './background-run';
import { logTail, type BackgroundRecord } from './background-state';
import { BackupRun, type BackupState } from './backup';
import { ServiceHooks } from './hooks';
import { getInputs, type Inputs, type WaitInputs } from './inputs';
import { backupOutputs, setBackupOutputs, type BackupOutputs } from './outputs';
import { pgbackrestStep, writePitrSummary } from './pgbackrest';
import { Phases } from './phases';
import { factsOf, recoveryPoint, writeBackupSummary } from './report';
import { waitForBackground } from './wait';

/**
 * Takes a verified backup (preflight, lock, stop services, dump with row counts and fingerprints,
 * verify, snapshot database, offsite copy, manifest); or, with `snapshot: first` + `dump:
 * background`, the snapshot database and a background process for the rest; or, with `wait-for`,
 * waits for that process and reports its backup. The summary is written on failure too.
 */
export async function run(): Promise<void> {
  const plan = process.env[BACKGROUND_ENV];
  if (plan !== undefined) return runBackgroundChild(plan);
  const parsed = getInputs();
  if (parsed.kind === 'wait') return waitStep(parsed.inputs);
  if (parsed.inputs.engine === 'pgbackrest') return pgbackrestStep(parsed.inputs);
  return backupStep(parsed.inputs);
}

/**
 * The backup's steps in order. `snapshot` decides where the snapshot database and the restart of
 * the services go: `first` makes the copy while nothing writes and dumps the copy (or leaves that
 * to a background process); `true` copies after the dump has read the data; `false` makes none.
 */
async function takeBackup(run: BackupRun): Promise<void> {
  const { inputs } = run;
  await run.preflight();
  await run.checkOffsite();
  await run.lock();
  await run.stopServices();
  if (inputs.snapshot === 'first') {
    // Nothing writes from here (maintenance on, services stopped): the copy is the recovery point,
    // and the dump, its evidence and its offsite copy are all taken from the copy.
    await run.snapshotDatabase();
    await run.startServices();
    if (inputs.dump === 'background') {
      await run.startBackgroundDump();
      return run.unlock();
    }
  }
  await run.dump();
  if (inputs.snapshot === 'after-dump') await run.snapshotDatabase();
  if (inputs.snapshot !== 'first') await run.startServices();
  await run.verify();
  await run.offsite();
  await run.manifest();
  await run.unlock();
}

async function backupStep(inputs: Inputs): Promise<void> {
  const started = Date.now();
  const phases = new Phases();
  const hooks = new ServiceHooks(inputs.stopCommand, inputs.startCommand, inputs.hookTimeoutMs);
  const state: BackupState = {};
  const run = new BackupRun(inputs, phases, state, hooks);
  let failure: unknown;
  try {
    await takeBackup(run);
  } catch (error) {
    failure = error;
    await run.abandonUpload();
  }
  try {
    await hooks.start();
  } catch (error) {
    failure ??= error;
  }
  setBackupOutputs(backupOutputs(state, (Date.now() - started) / 1000, failure !== undefined));
  if (state.path && state.evidence) {
    core.info(`Backup ${state.id ?? ''}: ${state.path}; ${recoveryPoint(state.evidence.snapshotTakenAt)}.`);
  } else if (state.status === 'running' && state.background) {
    core.info(
      `Backup ${state.id ?? ''}: snapshot database ${state.snapshotDatabase ?? ''} taken; the dump runs in the background ` +
        `(pid ${state.background.pid}, log ${state.background.logFile}). Verify it with wait-for: ${state.id ?? ''}.`,
    );
  }
  await writeBackupSummary(
    phases.list,
    factsOf(state),
    hooks.state,
    failure === undefined ? undefined : scrub(errorMessage(failure)),
  );
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}

async function waitStep(w: WaitInputs): Promise<void> {
  const started = Date.now();
  const seen: Parameters<typeof waitForBackground>[1] = {};
  let failure: unknown;
  try {
    await waitForBackground(w, seen);
  } catch (error) {
    failure = error;
  }
  const record = seen.record;
  if (record?.pitr || record?.point) return waitPitrReport(w, record, started, failure);
  const outputs: BackupOutputs = record?.outputs ?? {
    'backup-uri': '',
    'manifest-uri': '',
    'duration-seconds': ((Date.now() - started) / 1000).toFixed(1),
    'snapshot-database': '',
    status: 'failed',
  };
  if (failure !== undefined) outputs.status = 'failed';
  setBackupOutputs(outputs);
  if (failure === undefined && record?.facts?.path) {
    const at = record.facts.snapshotTakenAt;
    core.info(`Backup ${w.waitFor} verified: ${record.facts.path}${at ? `; ${recoveryPoint(at)}` : ''}.`);
  }
  await writeBackupSummary(
    record?.phases ?? [],
    {
      ...record?.facts,
      id: w.waitFor,
      status: failure === undefined ? 'verified' : undefined,
      logTail: scrub(await logTail(record?.logFile ?? '', 20)),
    },
    'not touched by this step (the step that took the snapshot stopped and started them)',
    failure === undefined ? undefined : scrub(errorMessage(failure)),
  );
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}

/** `wait-for` on a pgBackRest recovery point's background evidence: its outputs and summary. */
async function waitPitrReport(
  w: WaitInputs,
  record: BackgroundRecord,
  started: number,
  waitFailure: unknown,
): Promise<void> {
  let failure = waitFailure;
  const manifest =
    failure === undefined && record.pitr
      ? await readPitrManifestFile(record.pitr.manifestPath).catch((error: unknown) => {
          failure = error;
          return undefined;
        })
      : undefined;
  const outputs: BackupOutputs = record.outputs ?? {
    'backup-uri': '',
    'manifest-uri': '',
    'duration-seconds': ((Date.now() - started) / 1000).toFixed(1),
    'snapshot-database': '',
    status: 'failed',
  };
  if (failure !== undefined) {
    outputs.status = 'failed';
    outputs['manifest-path'] = '';
  }
  setBackupOutputs(outputs);
  if (manifest && failure === undefined)
    core.info(`Recovery point ${w.waitFor}: evidence read; manifest ${record.pitr?.manifestPath ?? ''}.`);
  await writePitrSummary({
    id: w.waitFor,
    database: manifest?.database ?? '',
    manifest,
    manifestPath: record.pitr?.manifestPath,
    phases: record.phases ?? [],
    services: 'not touched by this step (the step that took the restore point stopped and started them)',
    seconds: Number(outputs['duration-seconds']),
    failure,
    logTail: failure === undefined ? undefined : scrub(await logTail(record.logFile, 20)),
  });
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}
