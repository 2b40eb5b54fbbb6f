import * as core from '@actions/core';

import { SafetyError, clause, errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import { withDatabase } from '../../postgres/connection';
import { runHolder } from '../../postgres/lock';
import {
  analyzeDatabase,
  AutovacuumPause,
  canKeepOwners,
  checkDatabase,
  checkPassed,
  createDatabaseLike,
  DatabaseChecker,
  describeCheck,
  exclusiveItemIds,
  restoreDump,
  tableDataIds,
  type ArchiveListing,
  type DatabaseCheck,
  type RestoreProgress,
} from '../../postgres/restore';
import {
  databaseInfo,
  dropOwnDatabase,
  emptyDatabase,
  maintenance,
  setAllowConnections,
} from '../../postgres/swap';
import { isOwnSideDatabase, newMarker, writeMarker } from '../../postgres/swap-marker';
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

/**
 * The comparison of a restored database with the manifest, overlapped with the restore. It reads
 * only on the job slots pg_restore leaves idle (as its workers report taking up and finishing
 * items), so while pg_restore runs no more than `jobs` sessions are busy and the checks do not slow
 * the loading of the data. A plain table is read once its data is in and its exclusive-lock items (primary key,
 * unique and check constraints, …) are built: a read before would hold those up, and the rest of the
 * restore behind them. Every other table (a parent, a partition) waits until all the data is in.
 * Without parallel restore (one job) it all happens after the restore. Each table is read in a
 * transaction of its own: no lock is held across tables.
 */
export class EarlyCheck {
  private readonly checker: DatabaseChecker;
  private result: Promise<DatabaseCheck> | undefined;
  private running = 0;
  private granted: number;
  private timer: NodeJS.Timeout | undefined;
  private allLoaded = false;
  /** Whether the restore reported its progress (parallel mode), so the checks could overlap it. */
  overlapped = false;

  constructor(
    private readonly inputs: Inputs,
    database: string,
    v: Verified,
  ) {
    this.checker = new DatabaseChecker(inputs.connection, database, v.manifest, {
      connections: inputs.jobs,
    });
    this.granted = inputs.jobs;
  }

  /** What `restoreDump` reports to, for an archive with these entries (none without table data). */
  progress(listing: ArchiveListing): RestoreProgress | undefined {
    const tables = this.checker.tables;
    const dataOf = tableDataIds(listing, tables);
    const holds = exclusiveItemIds(listing, tables);
    const pending = new Set(listing.tableData.map((e) => e.id));
    if (pending.size === 0) return undefined;
    /** Which tables each exclusive-lock item holds back. */
    const holding = new Map<number, string[]>();
    for (const [table, ids] of holds)
      for (const id of ids) holding.set(id, [...(holding.get(id) ?? []), table]);
    const loaded = new Set<string>();
    const release = (table: string): void => {
      if ((holds.get(table)?.size ?? 0) > 0) return;
      if (this.allLoaded) this.checker.ready(table);
      else if (loaded.has(table)) this.checker.early(table);
    };
    this.grant(0);
    return {
      launched: () => {
        this.overlapped = true;
        this.running++;
        this.grant(this.inputs.jobs - this.running);
      },
      finished: (id) => {
        this.running = Math.max(0, this.running - 1);
        const table = dataOf.get(id);
        if (table !== undefined) {
          loaded.add(table);
          release(table);
        }
        for (const t of holding.get(id) ?? []) {
          const ids = holds.get(t);
          if (ids?.delete(id) && ids.size === 0) release(t);
        }
        if (pending.delete(id) && pending.size === 0) {
          this.allLoaded = true;
          for (const t of tables) release(t);
        }
        this.grant(this.inputs.jobs - this.running);
      },
    };
  }

  /**
   * Lets the checks read on `slots` sessions: fewer at once; more only once they have stayed free
   * for IDLE_MS (pg_restore usually takes up its next item right after finishing one).
   */
  private grant(slots: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (slots <= this.granted) {
      this.granted = slots;
      this.checker.limit(slots);
      return;
    }
    this.timer = setTimeout(() => {
      this.granted = slots;
      this.checker.limit(slots);
    }, IDLE_MS);
  }

  /** The restore failed: the early checks stop, and their sessions close before the side database is dropped. */
  abandon(): void {
    clearTimeout(this.timer);
    this.checker.abandon();
  }

  get checkedEarly(): number {
    return this.checker.checkedEarly;
  }

  /** How many tables the check reads. */
  get tables(): number {
    return this.checker.tables.length;
  }

  /** The tables whose read has begun, in that order. */
  get started(): readonly string[] {
    return this.checker.started;
  }

  finish(): Promise<DatabaseCheck> {
    clearTimeout(this.timer);
    if (!this.result) {
      this.result = this.checker.finish();
      // A restore that fails meanwhile drops the database under it: that error is the restore's.
      this.result.catch(() => undefined);
    }
    return this.result;
  }
}

/** How long a job slot must stay idle before a check takes it. */
const IDLE_MS = 50;

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
    analyzeDatabase(inputs.connection, database, inputs.jobs),
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
      problem = `the snapshot "${snap}" could not be checked: ${clause(errorMessage(error))}`;
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
    listing: d.listing,
  });
}
