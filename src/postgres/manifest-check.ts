import * as core from '@actions/core';

import type { BackupManifest } from '../manifest';

import { normalizeTableName, quoteTable, withClient, type Client } from './client';
import { withDatabase, type ConnectionSettings } from './connection';
import {
  compareFingerprints,
  fingerprintTable,
  type FingerprintDifference,
  type TableFingerprint,
} from './fingerprint';

export interface DatabaseCheck {
  countDiffs: { table: string; expected: number; actual: number | undefined }[];
  fingerprintDiffs: FingerprintDifference[];
  tables: number;
}

export function describeCheck(check: DatabaseCheck): string {
  const parts = [
    ...check.countDiffs.map(
      (d) => `${d.table}: ${d.actual === undefined ? 'missing' : `${d.actual} rows`}, manifest ${d.expected}`,
    ),
    ...check.fingerprintDiffs.map((d) => `${d.table}: fingerprint ${d.reason}`),
  ];
  return parts.length > 8 ? `${parts.slice(0, 8).join('; ')}; … ${parts.length - 8} more` : parts.join('; ');
}

export function checkPassed(check: DatabaseCheck): boolean {
  return check.countDiffs.length === 0 && check.fingerprintDiffs.length === 0;
}

type Outcome = { count?: DatabaseCheck['countDiffs'][number]; fingerprint?: FingerprintDifference[] };

/**
 * Compares a database with the manifest: the fingerprints of its protected tables (which include
 * their row counts) and the exact row count of every other table it lists (unless `countRows` is
 * false). Tables are read in parallel on up to `connections` sessions, each table in a transaction
 * of its own (no lock is held across tables): the database compared is one nothing else writes to
 * (a side database being restored or just restored, or the live one behind a stopped application).
 *
 * `early(table)` checks one table at once, if it is a plain table (no inheritance children, not a
 * partition) — one whose rows are all in — else leaves it for `ready()` or `finish()`; `ready(table)`
 * checks one table at once whatever its kind; `finish()` checks every table not checked yet and
 * resolves with the result. `limit(n)` lets only n sessions read at a time until `finish()`.
 */
export class DatabaseChecker {
  private readonly target: ConnectionSettings;
  private readonly fingerprints = new Map<string, TableFingerprint>();
  private readonly counts = new Map<string, number>();
  private readonly queue: { table: string; onlyIfPlain: boolean; beforeFinish: boolean }[] = [];
  private readonly queued = new Set<string>();
  private readonly outcomes: Outcome[] = [];
  private readonly workers: Promise<void>[] = [];
  private readonly connections: number;
  private waiters: (() => void)[] = [];
  private closed = false;
  private abandoned = false;
  private allowed: number;
  private reading = 0;
  /** Tables checked through `early()` or `ready()`, before `finish()`. */
  checkedEarly = 0;
  /** The tables whose read has begun, in that order. */
  readonly started: string[] = [];

  constructor(
    settings: ConnectionSettings,
    private readonly database: string,
    private readonly manifest: BackupManifest,
    private readonly options: { countRows?: boolean; connections?: number } = {},
  ) {
    this.target = withDatabase(settings, database);
    for (const f of manifest.fingerprints) this.fingerprints.set(normalizeTableName(f.table), f);
    if (options.countRows !== false)
      for (const [table, rows] of Object.entries(manifest.rowCounts))
        if (!this.fingerprints.has(normalizeTableName(table)))
          this.counts.set(normalizeTableName(table), rows);
    this.connections = Math.max(1, Math.min(options.connections ?? 2, this.tables.length));
    this.allowed = this.connections;
  }

  /** Every table this check reads. */
  get tables(): string[] {
    return [...this.fingerprints.keys(), ...this.counts.keys()];
  }

  early(table: string): void {
    this.enqueue(normalizeTableName(table), true);
  }

  ready(table: string): void {
    this.enqueue(normalizeTableName(table), false);
  }

  /** How many sessions may read at once (at least none, at most `connections`), until `finish()`. */
  limit(sessions: number): void {
    if (this.closed) return;
    this.allowed = Math.max(0, Math.min(this.connections, sessions));
    this.wake();
  }

  async finish(): Promise<DatabaseCheck> {
    this.closed = true;
    for (const table of this.tables) this.enqueue(table, false);
    this.allowed = this.connections;
    this.wake();
    await Promise.all(this.workers);
    const countDiffs = this.outcomes.flatMap((o) => (o.count ? [o.count] : []));
    const fingerprintDiffs = this.outcomes.flatMap((o) => o.fingerprint ?? []);
    // A protected table's count is in its fingerprint; the manifest's own count of it must agree too.
    for (const f of this.manifest.fingerprints) {
      const listed = this.manifest.rowCounts[normalizeTableName(f.table)];
      if (this.options.countRows !== false && listed !== undefined && listed !== f.rows) {
        countDiffs.push({ table: f.table, expected: listed, actual: f.rows });
      }
    }
    core.info(
      `Checked "${this.database}": ${this.counts.size} row counts, ${this.fingerprints.size} fingerprints` +
        `${this.checkedEarly ? ` (${this.checkedEarly} table(s) while the restore went on)` : ''}, ` +
        `${countDiffs.length + fingerprintDiffs.length} difference(s).`,
    );
    return { countDiffs, fingerprintDiffs, tables: this.counts.size };
  }

  /** Stops the sessions (after the table each is reading): the database is going away. */
  abandon(): void {
    this.abandoned = true;
    this.closed = true;
    this.queue.length = 0;
    this.wake();
  }

  private enqueue(table: string, onlyIfPlain: boolean): void {
    if (this.abandoned || (!this.fingerprints.has(table) && !this.counts.has(table))) return;
    if (this.queued.has(table) || (this.closed && onlyIfPlain)) return;
    this.queued.add(table);
    this.queue.push({ table, onlyIfPlain, beforeFinish: !this.closed });
    if (this.workers.length === 0) this.startWorkers();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private startWorkers(): void {
    for (let i = 0; i < this.connections; i++) {
      const worker = withClient(this.target, (client) => this.work(client), {
        stableOutput: true,
        applicationName: 'migration-guard rollback',
      });
      // A restore that fails meanwhile drops the database under the early checks: the restore's
      // error is the one reported; finish() rethrows this one if it is ever called.
      worker.catch(() => undefined);
      this.workers.push(worker);
    }
  }

  private async work(client: Client): Promise<void> {
    for (;;) {
      if (this.abandoned) return;
      const next = this.reading < this.allowed ? this.queue.shift() : undefined;
      if (!next) {
        if (this.closed && this.queue.length === 0) return;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      this.reading++;
      try {
        if (next.onlyIfPlain && !(await isPlain(client, next.table))) {
          // Its rows may still be coming (a parent, a partition): checked with the rest.
          this.queued.delete(next.table);
          if (this.closed) this.enqueue(next.table, false);
          continue;
        }
        if (next.beforeFinish) this.checkedEarly++;
        this.started.push(next.table);
        this.outcomes.push(await this.check(client, next.table));
      } finally {
        this.reading--;
        this.wake();
      }
    }
  }

  private async check(client: Client, table: string): Promise<Outcome> {
    const exists = Boolean(
      (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [quoteTable(table)]))
        .rows[0]?.t,
    );
    const f = this.fingerprints.get(table);
    if (f) {
      if (!exists) return { fingerprint: [{ table, expected: f, reason: 'missing' }] };
      return { fingerprint: compareFingerprints([f], [await fingerprintTable(client, table)]) };
    }
    const expected = this.counts.get(table) as number;
    if (!exists) return { count: { table, expected, actual: undefined } };
    const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteTable(table)}`);
    const actual = Number(r.rows[0]?.n ?? -1);
    return actual === expected ? {} : { count: { table, expected, actual } };
  }
}

/** A table whose rows are exactly its own: ordinary, no inheritance children, not a partition. */
async function isPlain(client: Client, table: string): Promise<boolean> {
  const r = await client.query<{ plain: boolean }>(
    `SELECT c.relkind = 'r' AND NOT c.relhassubclass AND NOT c.relispartition AS plain
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [quoteTable(table)],
  );
  return r.rows[0]?.plain === true;
}

/** `DatabaseChecker` in one go. */
export async function checkDatabase(
  settings: ConnectionSettings,
  database: string,
  manifest: BackupManifest,
  options: { countRows?: boolean; connections?: number } = {},
): Promise<DatabaseCheck> {
  return new DatabaseChecker(settings, database, manifest, options).finish();
}
