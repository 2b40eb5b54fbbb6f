import { stat } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { ConfigurationError, SafetyError } from '../../../common/errors';
import { PgBackRest, userFor, type OsUser } from '../../../pgbackrest/command';
import { CutoverFailure } from '../../../pgbackrest/cutover';
import { readPitrManifestFile, type PitrManifest } from '../../../pgbackrest/manifest';
import { waitForPreparation } from '../../../pgbackrest/preparation';
import { checkPitr, cutOverPitr, preparePitr, type PitrRollbackOptions } from '../../../pgbackrest/rollback';
import { acquireLock, runHolder, type HeldLock } from '../../../postgres/lock';
import { resolveCommit } from '../../../process/git';
import type { Application } from '../app';
import type { Inputs } from '../inputs';
import type { RunState } from '../state';

/** What the steps after the database part need: the code to revert to and where the old data is kept. */
export interface AfterCutover {
  commit?: string;
  names: { failed: string };
}

/** The data directory's owner, also while a cut-over has it renamed (then the side's or the folder's). */
export async function ownerOf(dirs: string[]): Promise<OsUser | undefined> {
  for (const d of dirs) {
    const ok = await stat(d).then(
      () => true,
      () => false,
    );
    if (ok) return userFor(d);
  }
  return undefined;
}

/**
 * What a failed cut-over leaves: with the directories renamed, the previous one is kept; while the
 * database is down the application is not started; otherwise it is, on the live cluster, as after
 * any failure before the swap.
 */
function onCutoverFailure(error: CutoverFailure, state: RunState, app: Application, aside: string): void {
  state.timeline.downtimeMs = error.downtimeMs;
  if (error.replaced) {
    state.putBack = error.putBack;
    state.failedDatabase = aside;
  }
  if (!error.down) return;
  app.holdAfterSwap();
  state.databaseDown = error.lead;
  state.leftStopped = error.replaced
    ? 'the database is down after the cut-over, so the application was NOT started (its code would meet the restored data, or no database at all)'
    : 'the live cluster is down (its stop failed and starting it again failed), so the application was not started';
}

/** The pitr rollback's options from the inputs and the manifest (also a background preparation's). */
export async function pitrOptions(inputs: Inputs, m: PitrManifest): Promise<PitrRollbackOptions> {
  const p = inputs.pitr;
  if (!p) throw new ConfigurationError('strategy pitr needs pgdata.');
  if (m.database !== inputs.connection.database && !inputs.allowOtherDatabase)
    throw new SafetyError(
      `Backup ${m.backupId} is of database "${m.database}", not "${inputs.connection.database}" (allow-other-database: true to accept).`,
    );
  const owner = await ownerOf([p.pgdata, p.sidePgdata, path.dirname(p.pgdata)]);
  return {
    connection: inputs.connection,
    pgbr: new PgBackRest({
      stanza: p.stanza ?? m.pgbackrest.stanza,
      config: p.config ?? m.pgbackrest.config,
      user: owner,
    }),
    manifest: m,
    pgdata: p.pgdata,
    sideDir: p.sidePgdata,
    sidePort: p.sidePort,
    binDir: inputs.pgBinDir ?? `/usr/lib/postgresql/${m.server.major}/bin`,
    owner,
    stopCommand: p.clusterStopCommand,
    startCommand: p.clusterStartCommand,
    hookTimeoutMs: inputs.hookTimeoutMs,
    processMax: p.processMax,
    scope: p.scope,
    recoveryTimeoutMs: inputs.maxDurationMs,
    healthTimeoutMs: inputs.healthTimeoutMs,
  };
}

/**
 * Strategy pitr: verify the manifest, the repository and the cluster; restore the point into a
 * side directory, start it on its own port and prove it equals the manifest; stop the
 * application; cut over (stop the live cluster, keep its directory under a new name, move the
 * restored one in, start, health). A rerun after a kill resumes from the marker beside pgdata.
 */
export async function rollbackPitr(
  inputs: Inputs,
  state: RunState,
  app: Application,
  after: (v: AfterCutover) => Promise<void>,
): Promise<void> {
  const t = state.timeline;
  const p = inputs.pitr;
  if (!p || inputs.manifest.kind !== 'local')
    throw new ConfigurationError('strategy pitr needs pgdata and a local manifest.');
  const manifestFile = inputs.manifest.path;
  if (inputs.keepDatabases !== undefined) {
    // The whole cluster goes back to the point: there are no side databases of this run to prune.
    const said = `keep-databases (${inputs.keepDatabases}) does not apply to strategy pitr: nothing was pruned`;
    core.warning(said);
    state.note(`${said}.`);
  }
  let lock: HeldLock | undefined;
  const { o, plan, commit } = await t.phase('verify', async (note) => {
    const m = await readPitrManifestFile(manifestFile);
    state.manifest = m;
    const o = await pitrOptions(inputs, m);
    const commit = inputs.previousRef ? await resolveCommit(inputs.appDir, inputs.previousRef) : undefined;
    // A side being prepared in the background is this rollback's head start: wait for it.
    const waited = await waitForPreparation(
      path.resolve(p.pgdata),
      { binDir: o.binDir, user: o.owner },
      inputs.maxDurationMs,
      (r, seconds) =>
        core.info(
          `Waiting ${seconds.toFixed(0)}s for the rollback being prepared in the background (pid ${r.pid}, ${r.detail ?? r.status}); its log: ${r.log}`,
        ),
      manifestFile,
    );
    if (waited) {
      const r = waited.record;
      const said = waited.other
        ? `A background preparation for another manifest (${r.manifest}, pid ${r.pid}) was running and was stopped`
        : waited.stopped
          ? `The background preparation (pid ${r.pid}) did not end within max-duration and was stopped`
          : r.status === 'prepared'
            ? undefined
            : `The background preparation (pid ${r.pid}) ended ${r.status === 'failed' ? `failed: ${r.detail ?? 'no reason recorded'}` : `without a result (${r.detail ?? r.status})`}`;
      if (said) {
        core.warning(`${said}; this rollback restores by itself. Its log: ${r.log}`);
        state.note(`${said}; this rollback restored by itself.`);
      }
    }
    const plan = await checkPitr(o);
    if (plan.kind === 'fresh') lock = await acquireLock(inputs.connection, { holder: runHolder('rollback') });
    if (plan.kind === 'fresh' && plan.stale)
      state.note(`The side prepared earlier was not used: ${plan.stale}; it was restored again (--delta).`);
    note(
      plan.kind === 'fresh'
        ? `restore point ${m.restorePoint.name} of ${m.database}; ${plan.repository}`
        : plan.kind === 'prepared'
          ? `restore point ${m.restorePoint.name} of ${m.database}; its side was prepared at ${plan.state.prepared.at} and is unchanged since`
          : `an earlier run of backup ${m.backupId} reached ${plan.kind === 'done' ? 'the end of its cut-over' : 'its cut-over'}`,
    );
    return { o, plan, commit };
  });
  state.restoredFrom = `restore point ${o.manifest.restorePoint.name} (stanza ${o.pgbr.options.stanza})`;
  if (plan.kind === 'fresh') {
    const started = Date.now();
    const proof = await t.phase('restore', (note) =>
      preparePitr(o, plan, (_phase, detail) => {
        core.info(detail);
        note(detail);
      }),
    );
    t.record('checks', started + (Date.now() - started), 'ok', proof.summary);
  } else if (plan.kind === 'prepared') {
    const p = plan.state.prepared;
    t.skip('restore', `prepared in the background before the verdict (${p.timings})`);
    t.skip('checks', `proven when prepared, at ${p.at}: ${p.proof}`);
  } else {
    for (const phase of ['restore', 'checks'] as const) t.skip(phase, 'done by an earlier run');
  }
  if (app.hasStop) await t.phase('stop', () => app.stop());
  await lock?.release().catch(() => undefined);
  if (plan.kind === 'done') {
    t.skip('swap', 'done by an earlier run');
    t.downtimeMs = plan.state.downtimeMs;
  } else {
    const r = await t.phase('swap', async (note) => {
      // From here the live cluster may be stopped: a failure is no longer a refusal.
      state.touched = true;
      const result = await cutOverPitr(o, plan.state, (step) => core.info(step)).catch((error: unknown) => {
        if (error instanceof CutoverFailure) onCutoverFailure(error, state, app, plan.state.aside);
        throw error;
      });
      note(
        `${plan.state.side} → ${plan.state.pgdata}, previous data directory kept as ${plan.state.aside}${result.resumed.length ? `; ${result.resumed.join('; ')}` : ''}`,
      );
      return result;
    });
    t.downtimeMs = r.downtimeMs;
  }
  state.swapped = true;
  state.failedDatabase = plan.state.aside;
  app.holdAfterSwap();
  await after({ commit, names: { failed: plan.state.aside } });
}
