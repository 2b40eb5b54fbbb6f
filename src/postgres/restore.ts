import * as core from '@actions/core';

import { SafetyError } from '../common/errors';
import { scrub } from '../common/secrets';
import { describeExit, runProcess, succeeded } from '../process/runner';
import type { BackupManifest } from '../storage/manifest';

import { normalizeTableName, quoteIdent, quoteTable, withClient, type Client } from './client';
import { childEnv, withDatabase, type ConnectionSettings } from './connection';
import { compareFingerprints, fingerprintTable, type FingerprintDifference } from './fingerprint';
import { dbnameArg } from './side-names';
import type { DatabaseInfo } from './swap';
import type { ClientTools } from './tools';

/** What `pg_restore --list` shows of an archive. */
export interface ArchiveListing {
  entries: number;
  /** Dump ids of the archive's TABLE DATA entries. */
  tableData: number[];
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
    const m = /^(\d+); \d+ \d+ TABLE DATA /.exec(line);
    return m ? [Number(m[1])] : [];
  });
  return { entries: lines.length, tableData };
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
  /**
   * Called once, while the restore goes on, when every one of these TABLE DATA entries (dump ids)
   * has been loaded: the tables hold all their rows, and what remains is indexes, constraints and
   * the like. Needs parallel mode (`jobs` > 1), which reports each finished item.
   */
  dataLoaded?: { tableData: readonly number[]; then: () => void };
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
  const watch = options.jobs > 1 && options.dataLoaded && options.dataLoaded.tableData.length > 0;
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, dbnameArg(database)];
  if (watch) args.push('--verbose');
  if (!options.keepOwners) args.push('--no-owner');
  args.push('--', dumpFile);
  const waiting = new Set(watch ? options.dataLoaded?.tableData : []);
  const said: string[] = [];
  let pending = '';
  const onLine = (line: string): void => {
    for (const m of line.matchAll(FINISHED_DATA))
      if (waiting.delete(Number(m[1])) && waiting.size === 0) options.dataLoaded?.then();
    const text = line.replace(/pg_restore: /g, '').trim();
    if (text && (!PROGRESS.test(text) || /\b(error|warning|detail|hint):/i.test(text))) {
      core.info(scrub(line));
      said.push(scrub(line));
      if (said.length > 20) said.shift();
    }
  };
  const r = await runProcess(tools.paths.pg_restore, args, {
    env: childEnv(withDatabase(settings, database)),
    echo: !watch,
    onStderr: watch
      ? (chunk) => {
          pending += chunk.toString('utf8');
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          lines.forEach(onLine);
        }
      : undefined,
  });
  if (pending) onLine(pending);
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

/** Runs `tasks` on up to `connections` clients of `settings`, each client opened and closed once. */
async function onClients<T>(
  settings: ConnectionSettings,
  connections: number,
  tasks: readonly (() => (client: Client) => Promise<T>)[],
): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = (client: Client): Promise<void> =>
    (async () => {
      for (let i = next++; i < tasks.length; i = next++)
        results[i] = await (tasks[i] as () => (c: Client) => Promise<T>)()(client);
    })();
  const n = Math.max(1, Math.min(connections, tasks.length));
  await Promise.all(
    Array.from({ length: n }, () =>
      withClient(settings, worker, { stableOutput: true, applicationName: 'migration-guard rollback' }),
    ),
  );
  return results;
}

/**
 * Compares a database with the manifest: the fingerprints of its protected tables (which include
 * their row counts) and the exact row count of every other table it lists (unless `countRows` is
 * false). Tables are read in parallel on up to `connections` sessions: the database compared is
 * one nothing else writes to (a side database, or the live one behind a stopped application).
 */
export async function checkDatabase(
  settings: ConnectionSettings,
  database: string,
  manifest: BackupManifest,
  options: { countRows?: boolean; connections?: number } = {},
): Promise<DatabaseCheck> {
  const target = withDatabase(settings, database);
  const fingerprinted = new Set(manifest.fingerprints.map((f) => normalizeTableName(f.table)));
  const counted = options.countRows === false ? [] : Object.entries(manifest.rowCounts);
  const exists = async (client: Client, table: string): Promise<boolean> =>
    Boolean(
      (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [quoteTable(table)]))
        .rows[0]?.t,
    );
  type Outcome = { count?: DatabaseCheck['countDiffs'][number]; fingerprint?: FingerprintDifference[] };
  const tasks: (() => (client: Client) => Promise<Outcome>)[] = [
    ...manifest.fingerprints.map((f) => () => async (client: Client): Promise<Outcome> => {
      if (!(await exists(client, f.table)))
        return { fingerprint: [{ table: normalizeTableName(f.table), expected: f, reason: 'missing' }] };
      return { fingerprint: compareFingerprints([f], [await fingerprintTable(client, f.table)]) };
    }),
    ...counted
      .filter(([table]) => !fingerprinted.has(normalizeTableName(table)))
      .map(([table, expected]) => () => async (client: Client): Promise<Outcome> => {
        if (!(await exists(client, table))) return { count: { table, expected, actual: undefined } };
        const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteTable(table)}`);
        const actual = Number(r.rows[0]?.n ?? -1);
        return actual === expected ? {} : { count: { table, expected, actual } };
      }),
  ];
  const outcomes = await onClients(target, options.connections ?? 2, tasks);
  const countDiffs = outcomes.flatMap((o) => (o.count ? [o.count] : []));
  const fingerprintDiffs = outcomes.flatMap((o) => o.fingerprint ?? []);
  // A protected table's count is in its fingerprint; the manifest's own count of it must agree too.
  for (const f of manifest.fingerprints) {
    const listed = manifest.rowCounts[normalizeTableName(f.table)];
    if (options.countRows !== false && listed !== undefined && listed !== f.rows) {
      countDiffs.push({ table: f.table, expected: listed, actual: f.rows });
    }
  }
  core.info(
    `Checked "${database}": ${counted.length} row counts, ${manifest.fingerprints.length} fingerprints, ${countDiffs.length + fingerprintDiffs.length} difference(s).`,
  );
  return { countDiffs, fingerprintDiffs, tables: counted.length };
}
