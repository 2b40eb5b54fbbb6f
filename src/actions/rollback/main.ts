import { SafetyError, errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import { acquireLock, runHolder } from '../../postgres/lock';
import { maintenance } from '../../postgres/swap';
import { writeMarker } from '../../postgres/swap-marker';
import { interruptedBy, onCleanup } from '../../process/cleanup';
import { scrubStdio } from '../../process/detached';
import { setOutput } from '../../report/summary';

import { Application, waitHealthy } from './app';
import { getInputs, type Inputs } from './inputs';
import { PREPARE_ENV, runPreparation, startPreparationStep, stopPreparationStep } from './prepare';
import { pruneAfterRollback } from './prune';
import { report } from './report';
import { RunState } from './state';
import { CLUSTER_STRATEGIES, isClusterStrategy, strategyFor, type AfterCutover } from './strategies';
import { verifyBackup } from './verify';
import { reopenAfterInterruptedSwap } from './window';

/** Rollback: verify the backup, restore it beside the live database, check it, swap, revert, start, check health. */
export async function run(): Promise<void> {
  // The detached preparation's output is a log file no runner masks.
  if (process.env[PREPARE_ENV]) scrubStdio();
  let inputs: Inputs;
  try {
    inputs = getInputs();
  } catch (error) {
    // A bad input is found before anything is touched.
    setOutput('verdict', 'refused');
    throw error;
  }
  if (process.env[PREPARE_ENV]) return runPreparation(inputs);
  if (inputs.prepare === 'background')
    return startPreparationStep(inputs).catch((error: unknown) => {
      setOutput('preparation', 'refused');
      throw error;
    });
  if (inputs.prepare === 'stop') return stopPreparationStep(inputs);
  const state = new RunState(inputs.connection.database);
  const app = new Application(inputs);
  // Registered first, so on a cancellation it runs last: after the side database is dropped and the app restarted.
  const writeReport = onCleanup('write the rollback report', async () => {
    const signal = interruptedBy();
    if (signal) state.fail(new Error(`The rollback was cancelled (${signal}).`));
    state.timeline.finish();
    await report(inputs, state, app);
  });
  try {
    if (isClusterStrategy(inputs.strategy))
      await CLUSTER_STRATEGIES[inputs.strategy](inputs, state, app, (v) => afterSwap(inputs, state, app, v));
    else await rollback(inputs, state, app);
  } catch (error) {
    state.fail(error);
    await app.restartIfAllowed().catch((e: unknown) => {
      state.changedAfterAll();
      state.note(`Starting the application again failed: ${errorMessage(e)}`);
    });
    throw error;
  } finally {
    await writeReport();
  }
}

async function rollback(inputs: Inputs, state: RunState, app: Application): Promise<void> {
  const t = state.timeline;
  const lock = await acquireLock(inputs.connection, { holder: runHolder('rollback') });
  // First of all: a live database left blocked by an interrupted swap gets its connections back.
  await reopenAfterInterruptedSwap(inputs, state);
  const v = await t.phase('verify', async (note) => {
    const verified = await verifyBackup(inputs, state);
    note(
      `backup ${verified.manifest.backupId} of ${verified.manifest.database}${verified.commit ? `, code ${verified.commit.slice(0, 12)}` : ''}`,
    );
    return verified;
  });
  if (v.resume) {
    for (const phase of ['restore', 'checks', 'swap'] as const) t.skip(phase, 'done by an earlier run');
    if (app.hasStop) await t.phase('stop', () => app.stop());
  } else {
    // Nothing live changes until the cut-over; the application is stopped just before it.
    const strategy = strategyFor(inputs.strategy);
    if (!strategy) throw new Error(`Strategy ${inputs.strategy} has no database-level preparation.`);
    const prepared = await strategy.prepare({ inputs, state, app, v });
    if (app.hasStop) await t.phase('stop', () => app.stop());
    await prepared.cutOver();
  }
  app.holdAfterSwap();
  await afterSwap(inputs, state, app, v);
  await withClient(maintenance(inputs.connection), (c) => writeMarker(c, v.names.live, undefined)).catch(
    (e: unknown) =>
      state.note(`Could not remove the rollback's marker from "${v.names.live}": ${errorMessage(e)}`),
  );
  if (inputs.keepDatabases !== undefined && state.verdict !== 'unhealthy') {
    t.finish(); // the recovery ends here; the retention is housekeeping
    await pruneAfterRollback(inputs, state, [v.names.failed]);
  }
  await lock.release();
}

async function afterSwap(inputs: Inputs, state: RunState, app: Application, v: AfterCutover): Promise<void> {
  const t = state.timeline;
  if (v.commit || inputs.revertCommand) {
    try {
      await t.phase('revert', async (note) => note(await app.revert(v.commit)));
    } catch (error) {
      state.leftStopped =
        'the code revert failed after the database swap, so the application was NOT started (its code would not match the restored database)';
      throw error;
    }
  } else {
    t.skip('revert', 'no previous-ref or revert-command');
  }
  if (inputs.startCommand) await t.phase('start', () => app.start());
  else t.skip('start', 'no start-command');
  if (inputs.healthUrls.length === 0) {
    t.skip('health', 'no health-urls');
  } else {
    const failing = await t.phase('health', async (note) => {
      const pending = await waitHealthy(inputs.healthUrls, inputs.healthTimeoutMs, inputs.healthHeaders);
      note(
        pending.size === 0
          ? `${inputs.healthUrls.length} URL(s) answered 2xx`
          : [...pending].map(([u, why]) => `${u}: ${why}`).join('; '),
      );
      return pending;
    });
    if (failing.size > 0) {
      state.verdict = 'unhealthy';
      t.mark('health', 'failed', [...failing].map(([u, why]) => `${u}: ${why}`).join('; '));
      state.leftStopped = `the health check failed; ${await app.stopAgain()}; maintenance stays on`;
      throw new SafetyError(
        `Health check failed after the rollback (${[...failing.keys()].join(', ')}). The previous database is kept as "${v.names.failed}"; see the summary for how to swap back.`,
      );
    }
  }
  state.verdict = 'restored';
  state.checkDuration(inputs.maxDurationMs, inputs.onSlow);
}
