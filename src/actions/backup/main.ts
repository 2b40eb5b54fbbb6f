import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';

import { BACKGROUND_ENV } from './background';
import { runBackgroundChild } from './background-run';
import { logTail } from './background-state';
import { takeBackup, type BackupState } from './backup';
import { ServiceHooks } from './hooks';
import { getInputs, type Inputs, type WaitInputs } from './inputs';
import { backupOutputs, setBackupOutputs, type BackupOutputs } from './outputs';
import { pgbackrestStep } from './pgbackrest';
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

async function backupStep(inputs: Inputs): Promise<void> {
  const started = Date.now();
  const phases = new Phases();
  const hooks = new ServiceHooks(inputs.stopCommand, inputs.startCommand);
  const state: BackupState = {};
  let failure: unknown;
  try {
    await takeBackup(inputs, phases, hooks, state);
  } catch (error) {
    failure = error;
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
