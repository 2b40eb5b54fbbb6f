import * as core from '@actions/core';

import { SafetyError } from '../../../common/errors';
import { withClient } from '../../../postgres/client';
import { withDatabase } from '../../../postgres/connection';
import { runHolder } from '../../../postgres/lock';
import { canKeepOwners, createDatabaseLike, restoreDump } from '../../../postgres/restore';
import { AutovacuumPause } from '../../../postgres/restore-tuning';
import { databaseInfo, dropOwnDatabase, maintenance, swapDatabases } from '../../../postgres/swap';
import { isOwnSideDatabase, newMarker, writeMarker } from '../../../postgres/swap-marker';
import { onCleanup } from '../../../process/cleanup';
import { checkRestored, EarlyCheck } from '../database';
import { verifyDump, type VerifiedDump } from '../verify';

import type { EarlierRun, Prepared, RollbackStrategy, StrategyRun } from './types';

/** `swap`: pg_restore into a side database, prove it against the manifest, then rename it in. */
export const swap: RollbackStrategy = {
  async prepare(run) {
    const { inputs, state, v } = run;
    const t = state.timeline;
    const dump = await t.phase('verify', () => verifyDump(inputs, v, state));
    const early = new EarlyCheck(inputs, v.names.side, v);
    const keepSide = await t.phase('restore', (note) => restoreSide(run, dump, note, early));
    await t.phase('checks', (note) => checkRestored(inputs, v.names.side, v, note, early));
    return swapIn(run, v.names.side, keepSide);
  },
  cutOverDone: swapCommitted,
};

/**
 * The rename swap's cut-over: `replacement` goes under the live name, the live database is kept
 * under the failed name (`swapDatabases`); `keep` is told once the replacement is the live one.
 */
export function swapIn(run: StrategyRun, replacement: string, keep?: () => void): Prepared {
  const { inputs, state, v } = run;
  const t = state.timeline;
  return {
    async cutOver() {
      const swapped = await t.phase('swap', async (note) => {
        const r = await swapDatabases(inputs.connection, {
          live: v.names.live,
          replacement,
          failed: v.names.failed,
          terminateSessions: inputs.terminateSessions,
          backupId: v.manifest.backupId,
          restoredFrom: state.restoredFrom,
          run: runHolder('rollback'),
        });
        note(
          `${replacement} → ${v.names.live}, ${v.names.live} kept as ${v.names.failed}; ${r.terminated.length} session(s) terminated`,
        );
        return r;
      });
      keep?.();
      state.swapped = true;
      state.failedDatabase = v.names.failed;
      state.terminated = swapped.terminated;
      t.downtimeMs = swapped.downtimeMs + (state.priorDowntimeMs ?? 0);
    },
  };
}

/**
 * A swap committed by an earlier run: the live database carries this backup's swap marker, written
 * in the swap's own transaction, and the database it kept still exists.
 */
export function swapCommitted(earlier: EarlierRun): boolean {
  const { marker } = earlier;
  return (
    marker?.phase === 'swapped' &&
    marker.backupId === earlier.backupId &&
    marker.live === earlier.live &&
    earlier.markedFailedExists
  );
}

/**
 * Restores the dump into the side database `<db>_restore_<short>` (dropping one an interrupted run
 * left). Until the swap, the side database is dropped on every exit path.
 * Returns a function that keeps it (called once it has been swapped in).
 */
export async function restoreSide(
  { inputs, v }: StrategyRun,
  d: VerifiedDump,
  note: (s: string) => void,
  early?: EarlyCheck,
): Promise<() => void> {
  const side = v.names.side;
  let keep = false;
  const keepOwners = await withClient(maintenance(inputs.connection), async (c) => {
    if (v.sideExists || (await databaseInfo(c, side))) {
      // Only a database this rollback's marker names is ours to drop; any other is left alone.
      if (!(await isOwnSideDatabase(c, side, v.names.live, v.manifest.backupId))) {
        throw new SafetyError(
          `"${side}" exists but carries no marker of a rollback of "${v.names.live}" from backup ${v.manifest.backupId}: ` +
            "it is not this rollback's to drop. Nothing was changed; rename or drop it yourself if it is not needed.",
        );
      }
      core.warning(
        `Dropping "${side}", left by an interrupted rollback from the same backup; restoring again.`,
      );
      await dropOwnDatabase(c, side);
    }
    await createDatabaseLike(c, side, v.live);
    await writeMarker(
      c,
      side,
      newMarker({
        backupId: v.manifest.backupId,
        live: v.names.live,
        liveOid: 0,
        liveAllowedConnections: v.live.allowConnections,
        failed: v.names.failed,
        phase: 'restoring',
        blockedAt: 0,
        run: runHolder('rollback'),
      }),
    );
    return canKeepOwners(c);
  });
  onCleanup(`drop side database ${side}`, async () => {
    if (keep) return;
    await withClient(maintenance(inputs.connection), (c) => dropOwnDatabase(c, side));
    core.info(`Dropped the side database "${side}"; the live database was not touched.`);
  });
  // Once pg_restore's workers start on the data, every table exists: autovacuum is kept off them
  // (unless the archive has event triggers, which the reset after the restore would fire).
  const autovacuum = d.listing.eventTriggers
    ? undefined
    : new AutovacuumPause(withDatabase(inputs.connection, side));
  const checks = early?.progress(d.listing);
  let paused = 0;
  try {
    await restoreDump(d.tools, inputs.connection, side, d.dump.file, {
      jobs: inputs.jobs,
      keepOwners,
      indexWorkers: inputs.indexWorkers,
      listing: d.listing,
      progress: {
        launched: (id) => {
          autovacuum?.pause();
          checks?.launched(id);
        },
        finished: (id) => checks?.finished(id),
      },
    });
    paused = (await autovacuum?.resume()) ?? 0;
  } catch (error) {
    early?.abandon();
    throw error;
  }
  const overlap = early?.overlapped
    ? `; ${early.checkedEarly} of ${early.tables} table(s) checked meanwhile, on job slots the restore left idle`
    : '';
  const vacuum = paused ? `; autovacuum kept off its ${paused} table(s) while they loaded` : '';
  note(
    `into ${side}, ${inputs.jobs} job(s), owners ${keepOwners ? 'kept' : 'not restored (--no-owner)'}${overlap}${vacuum}`,
  );
  return () => {
    keep = true;
  };
}
