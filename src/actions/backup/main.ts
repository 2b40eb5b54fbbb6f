import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { setOutput } from '../../report/summary';

import { takeBackup, type BackupState } from './backup';
import { ServiceHooks } from './hooks';
import { getInputs } from './inputs';
import { Phases } from './phases';
import { recoveryPoint, writeBackupSummary } from './report';

/**
 * Takes a verified backup: preflight, lock, stop services, dump in an exported snapshot with row
 * counts and fingerprints, verify, snapshot database, offsite copy, manifest. The start-command runs
 * on every exit path; the summary is written on failure too.
 */
export async function run(): Promise<void> {
  const inputs = getInputs();
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
  const seconds = (Date.now() - started) / 1000;
  if (state.path) {
    // Outputs describe what exists: a kept local backup is reported even when the run fails.
    setOutput('backup-id', state.id ?? '');
    setOutput('backup-path', state.path);
    setOutput('manifest-path', state.manifestPath ?? '');
    setOutput('sha256', state.dump?.sha256 ?? '');
    setOutput('size-bytes', String(state.dump?.sizeBytes ?? 0));
  }
  setOutput('backup-uri', state.uri ?? '');
  setOutput('manifest-uri', state.manifestUri ?? '');
  setOutput('snapshot-database', state.snapshotDatabase ?? '');
  setOutput('duration-seconds', seconds.toFixed(1));
  if (state.path && state.evidence) {
    core.info(`Backup ${state.id ?? ''}: ${state.path}; ${recoveryPoint(state.evidence.snapshotTakenAt)}.`);
  }
  await writeBackupSummary(
    phases.list,
    state,
    hooks.state,
    failure === undefined ? undefined : scrub(errorMessage(failure)),
  );
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}
