import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { serverInfo, withClient } from '../../postgres/client';
import { describeConnection } from '../../postgres/connection';
import { acquireLock, runHolder } from '../../postgres/lock';
import { interruptedBy, onCleanup } from '../../process/cleanup';
import { formatSeconds } from '../../report/format';
import { annotate, setOutput, writeSummary } from '../../report/summary';

import { commandEnvironment } from './env';
import { getInputs, type Inputs } from './inputs';
import { RunMarkerWriter } from './marker';
import { inspectAfter, inspectBefore, inspectPlan } from './migrations';
import { RunRecord, type MigrationDiff } from './state';
import { describeDryRun, describeRun, leftDown, migrateLead } from './summary';
import { runWindow } from './window';

interface Outputs {
  status: 'succeeded' | 'failed' | 'dry-run';
  failedStep: string;
  steps: unknown;
  applied: string[];
  pending: string[];
  rollback: boolean;
  maintenance: boolean;
}

const NOTHING_RAN: Omit<Outputs, 'status' | 'steps'> = {
  failedStep: '',
  applied: [],
  pending: [],
  rollback: false,
  maintenance: false,
};

function setOutputs(o: Outputs): void {
  setOutput('status', o.status);
  setOutput('failed-step', o.failedStep);
  setOutput('steps-json', o.steps);
  setOutput('applied-migrations', o.applied);
  setOutput('pending-migrations', o.pending);
  setOutput('rollback-recommended', String(o.rollback));
  setOutput('maintenance', o.maintenance ? 'on' : 'off');
}

function logPlan(inputs: Inputs): void {
  inputs.steps.forEach((step, i) => {
    const timeout = formatSeconds((step.timeoutMs ?? inputs.stepTimeoutMs) / 1000);
    core.info(
      scrub(
        `  ${i + 1}. ${step.name} (timeout ${timeout}, in ${step.workingDirectory ?? inputs.workingDirectory}): ${step.run}`,
      ),
    );
  });
}

/** One line for the failure: where it stopped, what is left down, what to do next. */
function failureLine(record: RunRecord, hasMaintenance: boolean): string {
  const where = record.failed
    ? `${record.failed.kind === 'step' ? 'Step' : 'Hook'} "${record.failed.name}" ${record.failed.status}: ${record.failed.detail}` +
      `${record.failed.tail?.length ? ` (last line: ${record.failed.tail.at(-1) ?? ''})` : ''}.`
    : record.cancelled
      ? `The run was cancelled (${record.cancelled}).`
      : 'The run stopped early.';
  const down = leftDown(record, hasMaintenance);
  return [where, ...down, record.rollbackRecommended ? '' : 'No step changed anything that needs a rollback.']
    .filter(Boolean)
    .join(' ');
}

async function dryRun(
  inputs: Inputs,
  env: Record<string, string | undefined>,
  target: string,
): Promise<void> {
  core.info('Dry run: nothing will be run, no lock is taken.');
  const diff: MigrationDiff = inputs.django ? await inspectPlan(inputs.django, env) : {};
  setOutputs({
    ...NOTHING_RAN,
    status: 'dry-run',
    steps: new RunRecord(inputs.steps).stepsJson(),
    pending: diff.pending ?? [],
  });
  await writeSummary(describeDryRun(inputs, diff, target));
}

/** The migration window: locked, guarded, timed steps between maintenance on and off. */
export async function run(): Promise<void> {
  const inputs = getInputs();
  const env = commandEnvironment(inputs.connection, inputs.lockTimeoutMs, inputs.statementTimeoutMs);
  const info = await withClient(inputs.connection, serverInfo, {
    applicationName: 'migration-guard migrate',
  });
  const target = `${describeConnection(inputs.connection)} (PostgreSQL ${info.version})`;
  core.info(`Target ${target}. Plan from ${inputs.planSource}:`);
  logPlan(inputs);
  if (inputs.dryRun) return dryRun(inputs, env, target);

  const record = new RunRecord(inputs.steps);
  const lock = await acquireLock(inputs.connection, { holder: runHolder('migrate') }).catch(
    (error: unknown) => {
      // Nothing ran: the next job must see a failure that needs no rollback.
      setOutputs({ ...NOTHING_RAN, status: 'failed', steps: record.stepsJson() });
      throw error;
    },
  );
  const marker = new RunMarkerWriter(inputs.connection, runHolder('migrate'));
  record.earlier = await marker.start();
  if (record.earlier) core.warning(record.earlier, { title: 'An earlier run was killed' });
  const hasMaintenance = inputs.hooks.maintenanceOn !== undefined;
  let reported = false;
  // Registered as a cleanup so a cancelled run (SIGTERM) still reports where it stopped.
  const report = onCleanup('report the migration window', async () => {
    if (reported) return;
    reported = true;
    try {
      const signal = interruptedBy();
      if (signal) record.closeCancelled(signal);
      if (inputs.django)
        await inspectAfter(inputs.django, inputs.connection, env, record.django, signal !== undefined);
      setOutputs({
        status: record.succeeded ? 'succeeded' : 'failed',
        failedStep: record.failed?.name ?? '',
        steps: record.stepsJson(),
        applied: record.django.appliedNow ?? [],
        pending: record.django.pending ?? [],
        rollback: record.rollbackRecommended,
        maintenance: record.maintenanceOn,
      });
      await writeSummary(describeRun(record, inputs, target, hasMaintenance));
      // One error line per failure: the action's own (failureLine, with what is left down); a
      // cancelled run may not reach it, so it is written here.
      if (record.succeeded) annotate('notice', 'Migration window succeeded', migrateLead(record));
      else if (signal) core.error(failureLine(record, hasMaintenance));
    } finally {
      await marker.finish();
    }
  });

  try {
    if (inputs.django) record.django = await inspectBefore(inputs.django, inputs.connection, env);
    await runWindow(inputs, env, record, (current, step) => marker.update(current, step));
    record.completed = true;
  } catch (error) {
    core.info(`The migration window stopped on an error: ${errorMessage(error)}`);
    throw error;
  } finally {
    await report();
    await lock.release();
  }
  if (!record.succeeded) throw new Error(failureLine(record, hasMaintenance));
}
