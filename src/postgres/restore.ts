import * as core from '@actions/core';

import { SafetyError } from '../common/errors';
import { describeExit, runProcess, succeeded } from '../process/runner';
import type { BackupManifest } from '../storage/manifest';

import { normalizeTableName, quoteIdent, quoteTable, withClient, type Client } from './client';
import { childEnv, withDatabase, type ConnectionSettings } from './connection';
import { compareFingerprints, fingerprintTables, type FingerprintDifference } from './fingerprint';
import type { DatabaseInfo } from './swap';
import type { ClientTools } from './tools';

/** A libpq conninfo naming only the database, so a name with `=` is never read as a connection string. */
function dbnameArg(database: string): string {
  return `--dbname=dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * `pg_restore --list`: proves this pg_restore can read the archive's table of contents (format,
 * version, compression). Returns the number of entries; refuses an unreadable or empty archive.
 */
export async function listArchive(tools: ClientTools, dumpFile: string): Promise<number> {
  const r = await runProcess(tools.paths.pg_restore, ['--list', '--', dumpFile], {
    echo: false,
    timeoutMs: 300000,
    keepBytes: 1 << 20,
  });
  if (!succeeded(r)) {
    throw new SafetyError(
      `pg_restore ${tools.versions.pg_restore} cannot read the dump: ${describeExit(r)}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  const entries = r.stdout.split('\n').filter((line) => /^\d+;/.test(line)).length;
  if (entries === 0) throw new SafetyError('pg_restore --list shows no entries: the dump is empty.');
  return entries;
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
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, dbnameArg(database)];
  if (!options.keepOwners) args.push('--no-owner');
  args.push('--', dumpFile);
  const r = await runProcess(tools.paths.pg_restore, args, {
    env: childEnv(withDatabase(settings, database)),
  });
  if (!succeeded(r)) {
    const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
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

/**
 * Compares a database with the manifest: the exact row count of every table it lists (unless
 * `countRows` is false) and the fingerprints of its protected tables, in one snapshot.
 */
export async function checkDatabase(
  settings: ConnectionSettings,
  database: string,
  manifest: BackupManifest,
  options: { countRows?: boolean } = {},
): Promise<DatabaseCheck> {
  return withClient(
    withDatabase(settings, database),
    async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const exists = async (table: string): Promise<boolean> =>
          Boolean(
            (
              await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
                quoteTable(table),
              ])
            ).rows[0]?.t,
          );
        const countDiffs: DatabaseCheck['countDiffs'] = [];
        const counted = options.countRows === false ? [] : Object.entries(manifest.rowCounts);
        for (const [table, expected] of counted) {
          if (!(await exists(table))) {
            countDiffs.push({ table, expected, actual: undefined });
            continue;
          }
          const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteTable(table)}`);
          const actual = Number(r.rows[0]?.n ?? -1);
          if (actual !== expected) countDiffs.push({ table, expected, actual });
        }
        const present: string[] = [];
        const fingerprintDiffs: FingerprintDifference[] = [];
        for (const f of manifest.fingerprints) {
          if (await exists(f.table)) present.push(f.table);
          else fingerprintDiffs.push({ table: normalizeTableName(f.table), expected: f, reason: 'missing' });
        }
        fingerprintDiffs.push(
          ...compareFingerprints(
            manifest.fingerprints.filter((f) => present.includes(f.table)),
            await fingerprintTables(client, present),
          ),
        );
        core.info(
          `Checked "${database}": ${counted.length} row counts, ${manifest.fingerprints.length} fingerprints, ${countDiffs.length + fingerprintDiffs.length} difference(s).`,
        );
        return { countDiffs, fingerprintDiffs, tables: counted.length };
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    },
    { stableOutput: true, applicationName: 'migration-guard rollback' },
  );
}
