import { SafetyError } from '../../common/errors';
import { exclusiveItemIds, tableDataIds, type ArchiveListing } from '../../postgres/archive-listing';
import {
  checkPassed,
  DatabaseChecker,
  describeCheck,
  type DatabaseCheck,
} from '../../postgres/manifest-check';
import { type RestoreProgress } from '../../postgres/restore';
import { analyzeDatabase } from '../../postgres/restore-tuning';

import type { Inputs } from './inputs';
import type { Verified } from './verify';

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
