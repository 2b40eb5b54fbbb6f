import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { withDatabase } from '../../postgres/connection';
import { backupShortId, databaseNameFor } from '../../postgres/side-names';
import { scrubStdio } from '../../process/detached';

import { parsePlan } from './background';
import { backgroundFiles, recordOnCleanup, startRecord, writeRecord } from './background-state';
import { BackupRun, type BackupState } from './backup';
import { getInputs } from './inputs';
import { backupOutputs } from './outputs';
import { runPitrBackground } from './pgbackrest-background';
import { Phases } from './phases';
import { factsOf } from './report';

/**
 * The background half of `snapshot: first` + `dump: background`: dumps the snapshot database,
 * verifies, copies offsite and writes the manifest exactly as a `dump: now` run does, and records
 * the result (outputs, phases, facts) in `<id>.background.json` for the `wait-for` step. The
 * manifest describes the live database; the snapshot is its copy, taken while nothing wrote.
 */
export async function runBackgroundChild(planText: string): Promise<void> {
  scrubStdio();
  const plan = parsePlan(planText);
  const parsed = getInputs();
  if (parsed.kind !== 'backup') throw new Error('The background dump was started without backup inputs.');
  const inputs = parsed.inputs;
  if (plan.pitrBasisFile) return runPitrBackground(plan, inputs);
  const started = new Date(plan.startedAt);
  const files = backgroundFiles(inputs.outputDir, plan.id);
  const snapshotDatabase = databaseNameFor(inputs.connection.database, 'snap', backupShortId(plan.id));
  const record = await startRecord(files, plan.id);
  core.info(`Background dump of ${snapshotDatabase} for backup ${plan.id} (pid ${process.pid}).`);
  const phases = new Phases(started.getTime());
  phases.list.push(...plan.phases);
  const state: BackupState = { id: plan.id, snapshotDatabase, recoveryPoint: plan.recoveryPoint };
  const finish = async (failure: unknown): Promise<void> => {
    record.status = failure === undefined ? 'verified' : 'failed';
    record.error = failure === undefined ? undefined : scrub(errorMessage(failure));
    record.finished = new Date().toISOString();
    record.outputs = backupOutputs(state, (Date.now() - started.getTime()) / 1000, failure !== undefined);
    record.phases = phases.list;
    record.facts = { ...factsOf(state), status: undefined };
    await writeRecord(files.state, record);
  };
  const end = recordOnCleanup('the background dump', finish);
  let failure: unknown;
  try {
    // The steps of a backup after its snapshot database, as `main.ts` runs them for `dump: now`.
    const run = new BackupRun(inputs, phases, state, undefined, started);
    run.source = withDatabase(inputs.connection, snapshotDatabase);
    await run.preflight('Preflight (snapshot)', false);
    await run.checkOffsite();
    await run.dump();
    await run.verify();
    await run.offsite();
    await run.manifest();
  } catch (error) {
    failure = error;
  }
  await end(failure);
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
  core.info(`Background backup ${plan.id} verified: ${state.path ?? ''}.`);
}
