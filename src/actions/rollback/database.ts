import * as core from '@actions/core';

import { SafetyError, errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import {
  analyzeDatabase,
  canKeepOwners,
  checkDatabase,
  checkPassed,
  createDatabaseLike,
  DatabaseChecker,
  describeCheck,
  restoreDump,
  tableDataIds,
  type ArchiveListing,
  type DatabaseCheck,
  type RestoreOptions,
} from '../../postgres/restore';
import {
  databaseInfo,
  dropOwnDatabase,
  emptyDatabase,
  maintenance,
  setAllowConnections,
} from '../../postgres/swap';
import { onCleanup } from '../../process/cleanup';

import type { Inputs } from './inputs';
import type { RunState } from './state';
import type { Verified, VerifiedDump } from './verify';

/**
 * Restores the dump into the side database `<db>_restore_<short>` (dropping one an interrupted run
 * left). Until the swap, the side database is dropped on every exit path.
 * Returns a function that keeps it (called once it has been swapped in).
 */
export async function restoreSide(
  inputs: Inputs,
  v: Verified,
  d: VerifiedDump,
  note: (s: string) => void,
  early?: EarlyCheck,
): Promise<() => void> {
  const side = v.names.side;
  let keep = false;
  const keepOwners = await withClient(maintenance(inputs.connection), async (c) => {
    if (v.sideExists || (await databaseInfo(c, side))) {
      core.warning(
        `Dropping "${side}", left by an interrupted rollback from the same backup; restoring again.`,
      );
      await dropOwnDatabase(c, side);
    }
    await createDatabaseLike(c, side, v.live);
    return canKeepOwners(c);
  });
  onCleanup(`drop side database ${side}`, async () => {
    if (keep) return;
    await withClient(maintenance(inputs.connection), (c) => dropOwnDatabase(c, side));
    core.info(`Dropped the side database "${side}"; the live database was not touched.`);
  });
  try {
    await restoreDump(d.tools, inputs.connection, side, d.dump.file, {
      jobs: inputs.jobs,
      keepOwners,
      indexWorkers: inputs.indexWorkers,
      progress: early?.progress(d.listing),
    });
  } catch (error) {
    early?.abandon();
    throw error;
  }
  const overlap =
    early?.allLoadedAt !== undefined
      ? `; checks began as the data came in (${early.checkedEarly} table(s) at once), all of them ${((Date.now() - early.allLoadedAt) / 1000).toFixed(1)} s before the end`
      : '';
  note(
    `into ${side}, ${inputs.jobs} job(s), owners ${keepOwners ? 'kept' : 'not restored (--no-owner)'}${overlap}`,
  );
  return () => {
    keep = true;
  };
}

/**
 * The comparison of a restored database with the manifest, overlapped with the restore: each plain
 * table is checked as soon as pg_restore reports its data loaded, and every other table once all
 * the data is in, while pg_restore still builds indexes and constraints. Without parallel restore
 * (one job) it all happens after the restore. The tables are only read, each in a transaction of
 * its own, so a restore's `ALTER TABLE … ADD CONSTRAINT` at worst waits for one table's read (or
 * the read for it); no lock is held across tables.
 */
export class EarlyCheck {
  private readonly checker: DatabaseChecker;
  private result: Promise<DatabaseCheck> | undefined;
  /** When every table's data was reported loaded. */
  allLoadedAt: number | undefined;

  constructor(inputs: Inputs, database: string, v: Verified) {
    this.checker = new DatabaseChecker(inputs.connection, database, v.manifest, {
      connections: inputs.jobs,
    });
  }

  /** What `restoreDump` reports to, for an archive with these TABLE DATA entries. */
  progress(listing: ArchiveListing): NonNullable<RestoreOptions['progress']> {
    const tables = tableDataIds(listing, this.checker.tables);
    return {
      tableData: listing.tableData.map((e) => e.id),
      table: (id) => {
        const table = tables.get(id);
        if (table) this.checker.early(table);
      },
      all: () => {
        this.allLoadedAt = Date.now();
        void this.finish();
      },
    };
  }

  /** The restore failed: the early checks stop, and their sessions close before the side database is dropped. */
  abandon(): void {
    this.checker.abandon();
  }

  get checkedEarly(): number {
    return this.checker.checkedEarly;
  }

  finish(): Promise<DatabaseCheck> {
    if (!this.result) {
      this.result = this.checker.finish();
      // A restore that fails meanwhile drops the database under it: that error is the restore's.
      this.result.catch(() => undefined);
    }
    return this.result;
  }
}

/**
 * Compares a restored database with the manifest (row counts and fingerprints), refusing (throwing)
 * on any difference; ANALYZE runs alongside, so the planner has statistics from the first query.
 */
export async function checkRestored(
  inputs: Inputs,
  database: string,
  v: Verified,
  note: (s: string) => void,
  early?: EarlyCheck,
): Promise<void> {
  const [check] = await Promise.all([
    (early ?? new EarlyCheck(inputs, database, v)).finish(),
    analyzeDatabase(inputs.connection, database),
  ]);
  if (!checkPassed(check)) {
    throw new SafetyError(
      `The restored database "${database}" does not match the backup's manifest: ${describeCheck(check)}. Not swapped; the live database was not touched.`,
    );
  }
  note(
    `${check.tables} row counts and ${v.manifest.fingerprints.length} fingerprints equal the manifest; analyzed`,
  );
}

/**
 * The snapshot named by the manifest, when it still exists and its fingerprints match; otherwise
 * refuses, or returns `undefined` to fall back to a restore from the dump (fallback-to-swap).
 */
export async function snapshotReady(
  inputs: Inputs,
  v: Verified,
  state: RunState,
  note: (s: string) => void,
): Promise<string | undefined> {
  const snap = v.manifest.snapshotDatabase;
  let problem: string | undefined;
  if (!snap) problem = 'the manifest names no snapshot database';
  const info = snap
    ? await withClient(maintenance(inputs.connection), (c) => databaseInfo(c, snap))
    : undefined;
  if (snap && !info) problem = `the snapshot database "${snap}" no longer exists`;
  if (snap && info) {
    // A snapshot kept closed to connections (so nothing writes to it) is opened only for the check.
    if (!info.allowConnections)
      await withClient(maintenance(inputs.connection), (c) => setAllowConnections(c, snap, true));
    try {
      const check = await checkDatabase(inputs.connection, snap, v.manifest, {
        countRows: false,
        connections: inputs.jobs,
      });
      if (!checkPassed(check))
        problem = `the snapshot "${snap}" does not match the manifest (${describeCheck(check)})`;
    } catch (error) {
      problem = `the snapshot "${snap}" could not be checked: ${errorMessage(error)}`;
    } finally {
      if (!info.allowConnections)
        await withClient(maintenance(inputs.connection), (c) => setAllowConnections(c, snap, false));
    }
  }
  if (!problem && snap) {
    note(`snapshot ${snap}: ${v.manifest.fingerprints.length} fingerprints equal the manifest`);
    state.restoredFrom = `database ${snap}`;
    return snap;
  }
  if (!inputs.fallbackToSwap)
    throw new SafetyError(
      `Snapshot rollback refused: ${problem ?? 'unknown'}. Nothing was changed (set fallback-to-swap: true to restore from the dump instead).`,
    );
  state.note(
    `Snapshot not usable (${problem ?? 'unknown'}): restored from the dump instead (fallback-to-swap).`,
  );
  note(`snapshot not usable, falling back to the dump`);
  return undefined;
}

/** The story's way, on request only: empty, drop and recreate the live database, then restore into it. */
export async function restoreInPlace(
  inputs: Inputs,
  v: Verified,
  d: VerifiedDump,
  state: RunState,
  beforeDrop: () => void,
): Promise<void> {
  const live = v.names.live;
  const keepOwners = await withClient(maintenance(inputs.connection), async (c) => {
    state.terminated = await emptyDatabase(c, live, inputs.terminateSessions);
    state.touched = true;
    state.swapped = true;
    beforeDrop();
    await c.query(`DROP DATABASE ${c.escapeIdentifier(live)}`);
    await createDatabaseLike(c, live, v.live);
    return canKeepOwners(c);
  });
  state.note(
    `in-place: "${live}" was dropped and recreated (allow-destructive); no copy of the migrated database was kept.`,
  );
  await restoreDump(d.tools, inputs.connection, live, d.dump.file, {
    jobs: inputs.jobs,
    keepOwners,
    indexWorkers: inputs.indexWorkers,
  });
}
