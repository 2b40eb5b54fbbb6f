import * as core from '@actions/core';

import { SafetyError } from '../common/errors';
import { describeExit, runProcess, succeeded } from '../process/runner';
import type { BackupManifest } from '../storage/manifest';

import {
  normalizeTableName,
  quoteIdent,
  quoteTable,
  splitTableName,
  USER_SCHEMA,
  withClient,
  type Client,
} from './client';
import { childEnv, childOptions, withDatabase, type ConnectionSettings } from './connection';
import {
  compareFingerprints,
  fingerprintTable,
  type FingerprintDifference,
  type TableFingerprint,
} from './fingerprint';
import { dbnameArg } from './side-names';
import type { DatabaseInfo } from './swap';
import type { ClientTools } from './tools';

/** One entry of `pg_restore --list`: its dump id and the rest of its line (`<schema> <tag> <owner>`). */
export interface ListedItem {
  id: number;
  text: string;
}

/** What `pg_restore --list` shows of an archive. */
export interface ArchiveListing {
  entries: number;
  /** The archive's TABLE DATA entries (`<schema> <table> <owner>`). */
  tableData: ListedItem[];
  /**
   * The entries restored after the data whose statement takes an ACCESS EXCLUSIVE lock on a table,
   * which a read of that table would hold up: primary key, unique, exclusion and check constraints
   * (`ALTER TABLE … ADD CONSTRAINT`), rules, policies and row security. Their tag begins with the
   * table's name (`<schema> <table> <name> <owner>`).
   */
  exclusive: ListedItem[];
  /** Whether the archive creates event triggers (pg_restore creates them last). */
  eventTriggers: boolean;
  /** The database the archive was dumped from (its header's `dbname`). */
  database?: string;
}

const EXCLUSIVE_ITEM = /^(\d+); \d+ \d+ (?:CONSTRAINT|CHECK CONSTRAINT|RULE|POLICY|ROW SECURITY) (.*)$/;

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
  // "<dumpId>; <catalog oid> <oid> <DESC> <schema> <tag> <owner>"
  const matching = (pattern: RegExp): ListedItem[] =>
    lines.flatMap((line) => {
      const m = pattern.exec(line);
      return m ? [{ id: Number(m[1]), text: m[2] as string }] : [];
    });
  return {
    entries: lines.length,
    tableData: matching(/^(\d+); \d+ \d+ TABLE DATA (.*)$/),
    exclusive: matching(EXCLUSIVE_ITEM),
    eventTriggers: lines.some((line) => /^\d+; \d+ \d+ EVENT TRIGGER /.test(line)),
    database: /^;\s+dbname: (.*)$/m.exec(r.stdout)?.[1],
  };
}

/**
 * The listed items of each table: those whose text begins with the table's schema and name. Names
 * are printed unquoted, so each space of an item's text is tried as the end of a name (one pass over
 * the listing, however many tables).
 */
function itemsByTable(items: readonly ListedItem[], tables: readonly string[]): Map<string, ListedItem[]> {
  const prefixes = new Map<string, string>();
  for (const t of tables) {
    const table = normalizeTableName(t);
    const { schema, table: name } = splitTableName(table);
    prefixes.set(`${schema} ${name} `, table);
  }
  const out = new Map<string, ListedItem[]>([...prefixes.values()].map((t) => [t, []]));
  for (const item of items) {
    for (let space = item.text.indexOf(' '); space >= 0; space = item.text.indexOf(' ', space + 1)) {
      const table = prefixes.get(item.text.slice(0, space + 1));
      if (table !== undefined) out.get(table)?.push(item);
    }
  }
  return out;
}

/**
 * The TABLE DATA entry of each table, where the listing names it unambiguously (names are printed
 * unquoted, so one with spaces may match several lines: such a table is left out).
 */
export function tableDataIds(listing: ArchiveListing, tables: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const [table, hits] of itemsByTable(listing.tableData, tables))
    if (hits.length === 1) out.set((hits[0] as ListedItem).id, table);
  return out;
}

/**
 * Each table's exclusive-lock items (see `ArchiveListing.exclusive`). A name with spaces may also
 * collect another table's items: a read then only waits longer than it had to.
 */
export function exclusiveItemIds(
  listing: ArchiveListing,
  tables: readonly string[],
): Map<string, Set<number>> {
  return new Map(
    [...itemsByTable(listing.exclusive, tables)].map(([table, items]) => [
      table,
      new Set(items.map((e) => e.id)),
    ]),
  );
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
   * Told, while the restore goes on, as pg_restore's workers take up (`launched`) and finish each
   * item of the archive (by dump id). Needs parallel mode (`jobs` > 1), which reports them.
   */
  progress?: RestoreProgress;
}

export interface RestoreProgress {
  launched(id: number): void;
  finished(id: number): void;
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
    PGOPTIONS: childOptions(settings, {
      max_parallel_maintenance_workers: Math.max(0, Math.floor(indexWorkers)),
    }),
  };
}

/**
 * pg_restore's --verbose progress messages, kept out of the log on every path (errors and warnings are not).
 * Unanchored: pg_restore's parallel workers share its stderr and write a message's prefix and
 * text in separate writes, so two processes' lines can interleave.
 */
const PROGRESS =
  /^(connecting|processing|creating|launching|finished|entering|executing|setting|implied|restoring|dropping|disabling|enabling|reconnecting|transferring|reducing|skipping|leaving)\b/;
const ITEM_EVENT = /(launching|finished) item (\d+) /g;

/**
 * Whether a line of pg_restore's stderr is a --verbose progress message (kept out of the log).
 * Prefixes are dropped however they come: two workers' writes can leave "pg_restore:pg_restore: …".
 */
export function isRestoreProgress(line: string): boolean {
  const text = line.replace(/pg_restore:\s*/g, '').trim();
  return text === '' || (PROGRESS.test(text) && !/\b(error|warning|detail|hint):/i.test(text));
}

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
  const watch = options.jobs > 1 && progress !== undefined;
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, dbnameArg(database)];
  if (watch) args.push('--verbose');
  if (!options.keepOwners) args.push('--no-owner');
  args.push('--', dumpFile);
  const said: string[] = [];
  /** Lines come scrubbed from the runner. */
  const onLine = (line: string): void => {
    for (const m of line.matchAll(ITEM_EVENT)) {
      if (m[1] === 'launching') progress?.launched(Number(m[2]));
      else progress?.finished(Number(m[2]));
    }
    if (!isRestoreProgress(line)) {
      core.info(line);
      said.push(line);
      if (said.length > 20) said.shift();
    }
  };
  const r = await runProcess(tools.paths.pg_restore, args, {
    env: restoreEnv(settings, database, options.indexWorkers),
    echo: false,
    onStderrLine: onLine,
    // A pg_restore orphaned by a killed run would go on writing into a database it no longer owns.
    dieWithParent: true,
  });
  if (!succeeded(r)) {
    const tail = said.slice(-3).join(' | ');
    throw new Error(`Restore into "${database}" failed: ${describeExit(r)}${tail ? `: ${tail}` : ''}`);
  }
}

const RESUME_BATCH = 100;

/**
 * Autovacuum kept off a database while it is restored. Its tables are loaded in bulk and analyzed
 * after; meanwhile autovacuum would take CPU from the restore, and its lock would hold up the
 * restore's indexes and foreign keys until it is cancelled, `deadlock_timeout` later. `pause()` sets
 * `autovacuum_enabled = false` (and `toast.autovacuum_enabled`) on each ordinary table that does not
 * set it itself; `resume()` resets exactly what was set, so the database ends with the dump's own
 * settings. A pause that fails (a table locked, a lost session) only leaves autovacuum on.
 * Not for an archive with event triggers: they exist once pg_restore ends, and the reset would fire
 * them (a DDL audit trigger would write rows into the copy just checked).
 */
export class AutovacuumPause {
  private readonly set: { table: string; options: string[] }[] = [];
  private pausing: Promise<void> | undefined;

  constructor(private readonly target: ConnectionSettings) {}

  /** Starts the pause (once the tables exist); errors are logged, not thrown. */
  pause(): void {
    this.pausing ??= withClient(this.target, (c) => this.pauseOn(c), {
      applicationName: 'migration-guard rollback',
    }).catch((error: unknown) => core.debug(`autovacuum not paused everywhere: ${String(error)}`));
  }

  /** Waits for the pause, then resets what it set. Returns how many tables it had paused. */
  async resume(): Promise<number> {
    await this.pausing;
    if (this.set.length === 0) return 0;
    // In batches: one round trip (and one transaction) per RESUME_BATCH tables, not per table.
    const statements = this.set.map(
      ({ table, options }) => `ALTER TABLE ${table} RESET (${options.join(', ')})`,
    );
    await withClient(this.target, async (c) => {
      for (let i = 0; i < statements.length; i += RESUME_BATCH)
        await c.query(statements.slice(i, i + RESUME_BATCH).join(';\n'));
    });
    return this.set.length;
  }

  private async pauseOn(c: Client): Promise<void> {
    // Never queue behind the restore's own locks (and so never hold the restore up behind us).
    await c.query("SET lock_timeout = '100ms'");
    const r = await c.query<{ name: string; main: boolean; toast: boolean }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
              NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum\\_enabled=%') AS main,
              c.reltoastrelid <> 0 AND NOT EXISTS (SELECT 1 FROM pg_class t, unnest(t.reloptions) o
                           WHERE t.oid = c.reltoastrelid AND o LIKE 'autovacuum\\_enabled=%') AS toast
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND ${USER_SCHEMA}`,
    );
    for (const row of r.rows) {
      const options = [
        ...(row.main ? ['autovacuum_enabled'] : []),
        ...(row.toast ? ['toast.autovacuum_enabled'] : []),
      ];
      if (options.length === 0) continue;
      // Noted first: a RESET of an option the table does not set changes nothing.
      this.set.push({ table: row.name, options });
      try {
        await c.query(`ALTER TABLE ${row.name} SET (${options.map((o) => `${o} = false`).join(', ')})`);
      } catch (error) {
        // Locked by the restore for longer than lock_timeout: that table keeps autovacuum.
        core.debug(`autovacuum not paused on ${row.name}: ${String(error)}`);
      }
    }
  }
}

/**
 * ANALYZE of every table, materialized view and partitioned table outside the system schemas, the
 * largest first, spread over up to `sessions` sessions.
 */
export async function analyzeDatabase(
  settings: ConnectionSettings,
  database: string,
  sessions = 1,
): Promise<void> {
  const target = withDatabase(settings, database);
  const names = await withClient(target, async (c) => {
    const r = await c.query<{ name: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 'p') AND ${USER_SCHEMA}
        ORDER BY pg_total_relation_size(c.oid) DESC, 1`,
    );
    return r.rows.map((row) => row.name);
  });
  let next = 0;
  const analyze = async (c: Client): Promise<void> => {
    for (let name = names[next++]; name !== undefined; name = names[next++]) await c.query(`ANALYZE ${name}`);
  };
  const n = Math.max(1, Math.min(sessions, names.length));
  await Promise.all(Array.from({ length: n }, () => withClient(target, analyze)));
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
