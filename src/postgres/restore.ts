import * as core from '@actions/core';

import { SafetyError } from '../common/errors';
import { describeExit, runProcess, succeeded } from '../process/runner';
import type { BackupManifest } from '../storage/manifest';

import {
  normalizeTableName,
  quoteIdent,
  quoteTable,
  splitTableName,
  withClient,
  type Client,
} from './client';
import { childEnv, pgOptions, withDatabase, type ConnectionSettings } from './connection';
import {
  compareFingerprints,
  fingerprintTable,
  type FingerprintDifference,
  type TableFingerprint,
} from './fingerprint';
import { dbnameArg } from './side-names';
import type { DatabaseInfo } from './swap';
import type { ClientTools } from './tools';

/** What `pg_restore --list` shows of an archive. */
export interface ArchiveListing {
  entries: number;
  /** The archive's TABLE DATA entries: dump id, and the rest of the line (`<schema> <table> <owner>`). */
  tableData: { id: number; text: string }[];
}

/**
 * `pg_restore --list`: proves this pg_restore can read the archive's table of contents (format,
 * version, compression). Returns the entries and which of them are table data; refuses an
 * unreadable or empty archive.
 */
export async function listArchive(tools: ClientTools, dumpFile: string): Promise<ArchiveListing> {
  const r = await runProcess(tools.paths.pg_restore, ['--list', '--', dumpFile], {
    echo: false,
    timeoutMs: 300000,
    keepBytes: 16 << 20,
  });
  if (!succeeded(r)) {
    throw new SafetyError(
      `pg_restore ${tools.versions.pg_restore} cannot read the dump: ${describeExit(r)}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  const lines = r.stdout.split('\n').filter((line) => /^\d+;/.test(line));
  if (lines.length === 0) throw new SafetyError('pg_restore --list shows no entries: the dump is empty.');
  // "<dumpId>; <catalog oid> <oid> TABLE DATA <schema> <table> <owner>"
  const tableData = lines.flatMap((line) => {
    const m = /^(\d+); \d+ \d+ TABLE DATA (.*)$/.exec(line);
    return m ? [{ id: Number(m[1]), text: m[2] as string }] : [];
  });
  return { entries: lines.length, tableData };
}

/**
 * The TABLE DATA entry of each table, where the listing names it unambiguously (names are printed
 * unquoted, so one with spaces may match several lines: such a table is left out).
 */
export function tableDataIds(listing: ArchiveListing, tables: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const t of tables) {
    const { schema, table } = splitTableName(normalizeTableName(t));
    const hits = listing.tableData.filter((e) => e.text.startsWith(`${schema} ${table} `));
    if (hits.length === 1) out.set((hits[0] as { id: number }).id, normalizeTableName(t));
  }
  return out;
}

/** Creates an empty twin of `like` (owner, encoding, collation, ctype, locale provider) from template0. */
export async function createDatabaseLike(client: Client, name: string, like: DatabaseInfo): Promise<void> {
  const lit = (v: string): string => client.escapeLiteral(v);
  let sql = `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 OWNER ${quoteIdent(like.owner)} ENCODING ${lit(like.encoding)}`;
  sql += ` LC_COLLATE ${lit(like.collate)} LC_CTYPE ${lit(like.ctype)}`;
  if (like.localeProvider === 'i' && like.iculocale)
    sql += ` LOCALE_PROVIDER icu ICU_LOCALE ${lit(like.iculocale)}`;
  await client.query(sql);
}

/** Whether the role may keep the dump's owners (`ALTER … OWNER` to other roles needs a superuser). */
export async function canKeepOwners(client: Client): Promise<boolean> {
  const r = await client.query<{ s: boolean }>(
    'SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user',
  );
  return r.rows[0]?.s === true;
}

export interface RestoreOptions {
  jobs: number;
  keepOwners: boolean;
  /** max_parallel_maintenance_workers for the restore's sessions (the server's setting when undefined). */
  indexWorkers?: number;
  /**
   * Told, while the restore goes on, as each of these TABLE DATA entries (dump ids) is loaded
   * (`table`), and once all of them are (`all`): what remains then is indexes, constraints and the
   * like. Needs parallel mode (`jobs` > 1), which reports each finished item.
   */
  progress?: { tableData: readonly number[]; table?: (id: number) => void; all: () => void };
}

/** pg_restore's environment: the connection, and the index build workers of its sessions if given. */
export function restoreEnv(
  settings: ConnectionSettings,
  database: string,
  indexWorkers?: number,
): Record<string, string | undefined> {
  const env = childEnv(withDatabase(settings, database));
  if (indexWorkers === undefined) return env;
  return {
    ...env,
    PGOPTIONS: pgOptions({ max_parallel_maintenance_workers: Math.max(0, Math.floor(indexWorkers)) }),
  };
}

/**
 * pg_restore's --verbose progress messages, kept out of the log (errors and warnings are not).
 * Unanchored: pg_restore's parallel workers share its stderr and write a message's prefix and
 * text in separate writes, so two processes' lines can interleave.
 */
const PROGRESS =
  /^(connecting|processing|creating|launching|finished|entering|executing|setting|implied|restoring|dropping|disabling|enabling|reconnecting|transferring)\b/;
const FINISHED_DATA = /finished item (\d+) TABLE DATA /g;

/**
 * pg_restore into `database` with `--exit-on-error` (by default it goes on after errors and exits
 * 0 with "errors ignored"), `-j` jobs; credentials by environment. Throws with the exit and the
 * last lines of stderr.
 */
export async function restoreDump(
  tools: ClientTools,
  settings: ConnectionSettings,
  database: string,
  dumpFile: string,
  options: RestoreOptions,
): Promise<void> {
  const progress = options.progress;
  const watch = options.jobs > 1 && progress !== undefined && progress.tableData.length > 0;
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, dbnameArg(database)];
  if (watch) args.push('--verbose');
  if (!options.keepOwners) args.push('--no-owner');
  args.push('--', dumpFile);
  const waiting = new Set(watch ? progress.tableData : []);
  const said: string[] = [];
  /** Lines come scrubbed from the runner. */
  const onLine = (line: string): void => {
    for (const m of line.matchAll(FINISHED_DATA)) {
      const id = Number(m[1]);
      if (!waiting.delete(id)) continue;
      progress?.table?.(id);
      if (waiting.size === 0) progress?.all();
    }
    const text = line.replace(/pg_restore: /g, '').trim();
    if (text && (!PROGRESS.test(text) || /\b(error|warning|detail|hint):/i.test(text))) {
      core.info(line);
      said.push(line);
      if (said.length > 20) said.shift();
    }
  };
  const r = await runProcess(tools.paths.pg_restore, args, {
    env: restoreEnv(settings, database, options.indexWorkers),
    echo: !watch,
    onStderrLine: watch ? onLine : undefined,
  });
  if (!succeeded(r)) {
    const tail = (watch ? said : r.stderr.trim().split('\n')).slice(-3).join(' | ');
    throw new Error(`Restore into "${database}" failed: ${describeExit(r)}${tail ? `: ${tail}` : ''}`);
  }
}

export async function analyzeDatabase(settings: ConnectionSettings, database: string): Promise<void> {
  await withClient(withDatabase(settings, database), (c) => c.query('ANALYZE'));
}

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
 * partition) — one whose rows are all in — else leaves it for `finish()`, which checks every table
 * not checked yet and resolves with the result.
 */
export class DatabaseChecker {
  private readonly target: ConnectionSettings;
  private readonly fingerprints = new Map<string, TableFingerprint>();
  private readonly counts = new Map<string, number>();
  private readonly queue: { table: string; onlyIfPlain: boolean }[] = [];
  private readonly queued = new Set<string>();
  private readonly outcomes: Outcome[] = [];
  private readonly workers: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;
  private abandoned = false;
  /** Tables checked through `early()`. */
  checkedEarly = 0;

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
  }

  /** Every table this check reads. */
  get tables(): string[] {
    return [...this.fingerprints.keys(), ...this.counts.keys()];
  }

  early(table: string): void {
    this.enqueue(normalizeTableName(table), true);
  }

  async finish(): Promise<DatabaseCheck> {
    for (const table of this.tables) this.enqueue(table, false);
    this.closed = true;
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
    this.queue.push({ table, onlyIfPlain });
    if (this.workers.length === 0) this.startWorkers();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private startWorkers(): void {
    const n = Math.max(1, Math.min(this.options.connections ?? 2, this.tables.length));
    for (let i = 0; i < n; i++) {
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
      const next = this.queue.shift();
      if (!next) {
        if (this.closed) return;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      if (next.onlyIfPlain) {
        if (!(await isPlain(client, next.table))) {
          // Its rows may still be coming (a parent, a partition): checked with the rest.
          this.queued.delete(next.table);
          if (this.closed) this.enqueue(next.table, false);
          continue;
        }
        this.checkedEarly++;
      }
      this.outcomes.push(await this.check(client, next.table));
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
