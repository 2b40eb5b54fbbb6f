import * as core from '@actions/core';

import { SafetyError, errorMessage } from '../common/errors';
import { onCleanup } from '../process/cleanup';

import { quoteIdent, withClient, type Client } from './client';
import { withDatabase, type ConnectionSettings } from './connection';

/** The maintenance database every rename, create and drop is run from. */
export const MAINTENANCE_DB = 'postgres';

export function maintenance(settings: ConnectionSettings): ConnectionSettings {
  return withDatabase(settings, MAINTENANCE_DB);
}

/** What `CREATE DATABASE` needs to make a twin of a database, and whether it takes connections. */
export interface DatabaseInfo {
  name: string;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  localeProvider?: string;
  iculocale?: string;
  allowConnections: boolean;
  sizeBytes: number;
}

export async function databaseInfo(client: Client, name: string): Promise<DatabaseInfo | undefined> {
  const r = await client.query<{ d: Record<string, unknown>; owner: string; enc: string; size: string }>(
    `SELECT to_jsonb(d) AS d, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS enc,
            pg_database_size(d.oid)::text AS size
       FROM pg_database d WHERE d.datname = $1`,
    [name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    name,
    owner: row.owner,
    encoding: row.enc,
    collate: String(row.d.datcollate),
    ctype: String(row.d.datctype),
    localeProvider: typeof row.d.datlocprovider === 'string' ? row.d.datlocprovider : undefined,
    iculocale: typeof row.d.daticulocale === 'string' ? row.d.daticulocale : undefined,
    allowConnections: row.d.datallowconn === true,
    sizeBytes: Number(row.size),
  };
}

export async function setAllowConnections(client: Client, name: string, allow: boolean): Promise<void> {
  await client.query(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`);
}

/** Drops a database this run owns (a side database), terminating whatever still uses it. */
export async function dropOwnDatabase(client: Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/** A session found on a database about to be renamed or dropped. */
export interface Session {
  pid: number;
  user: string | null;
  application: string;
  clientAddr: string | null;
  backendStart: string | null;
  state: string | null;
}

export function describeSession(s: Session): string {
  return `pid ${s.pid} user ${s.user ?? '?'} application "${s.application}" from ${s.clientAddr ?? 'local socket'}`;
}

export async function listSessions(client: Client, database: string): Promise<Session[]> {
  const r = await client.query<Session>(
    `SELECT pid, usename AS "user", coalesce(application_name, '') AS application, client_addr::text AS "clientAddr",
            backend_start::text AS "backendStart", state
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY pid`,
    [database],
  );
  return r.rows;
}

/**
 * Blocks new connections to `database`, then terminates the sessions still on it (logging each
 * one) or, when `terminate` is false, re-allows connections and refuses. Returns the sessions ended.
 */
export async function emptyDatabase(
  client: Client,
  database: string,
  terminate: boolean,
): Promise<Session[]> {
  await setAllowConnections(client, database, false);
  const sessions = await listSessions(client, database);
  if (sessions.length === 0) return [];
  if (!terminate) {
    await setAllowConnections(client, database, true);
    throw new SafetyError(
      `${sessions.length} session(s) still connected to "${database}" (${sessions.map(describeSession).join('; ')}) and terminate-sessions is false: ` +
        'nothing was changed. Stop those clients (stop-command) or set terminate-sessions: true.',
    );
  }
  for (const s of sessions) {
    core.warning(
      `Terminating session on "${database}": ${describeSession(s)}, connected since ${s.backendStart ?? '?'}, state ${s.state ?? '?'}`,
    );
    await client.query('SELECT pg_terminate_backend($1::int, 5000)', [s.pid]);
  }
  for (let i = 0; i < 100; i++) {
    if ((await listSessions(client, database)).length === 0) return sessions;
    await new Promise((r) => setTimeout(r, 100));
  }
  await setAllowConnections(client, database, true);
  throw new SafetyError(
    `Sessions on "${database}" did not end after pg_terminate_backend: nothing was changed.`,
  );
}

export interface SwapOptions {
  live: string;
  /** The verified database that becomes the live one. */
  replacement: string;
  /** The name the current live database is kept under. */
  failed: string;
  terminateSessions: boolean;
}

export interface SwapResult {
  terminated: Session[];
  /** From blocking connections to the new live database accepting them. */
  downtimeMs: number;
}

/**
 * Swaps `replacement` in under the live name, from the maintenance database: blocks and empties
 * both, then renames live → failed and replacement → live and re-allows connections in ONE
 * transaction, so there is never a moment without a database under the live name. An interruption
 * before the commit re-allows connections on the untouched live database.
 */
export async function swapDatabases(settings: ConnectionSettings, options: SwapOptions): Promise<SwapResult> {
  const { live, replacement, failed } = options;
  return withClient(
    maintenance(settings),
    async (client) => {
      await emptyDatabase(client, replacement, true);
      const started = Date.now();
      let committed = false;
      const reopen = onCleanup(`allow connections to ${live} again`, async () => {
        if (committed) return;
        await client.end().catch(() => undefined);
        await withClient(maintenance(settings), (c) => setAllowConnections(c, live, true));
      });
      try {
        const terminated = await emptyDatabase(client, live, options.terminateSessions);
        await client.query('BEGIN');
        await client.query(`ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(failed)}`);
        await client.query(`ALTER DATABASE ${quoteIdent(replacement)} RENAME TO ${quoteIdent(live)}`);
        await setAllowConnections(client, live, true);
        await client.query('COMMIT');
        committed = true;
        return { terminated, downtimeMs: Date.now() - started };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!committed) await setAllowConnections(client, live, true).catch(() => undefined);
        throw error;
      } finally {
        await reopen().catch((e) =>
          core.warning(`Could not re-allow connections to ${live}: ${errorMessage(e)}`),
        );
      }
    },
    { applicationName: 'migration-guard rollback' },
  );
}

/** The statements that put the previous live database back (printed when the new one is unhealthy). */
export function swapBackStatements(live: string, failed: string, restoredAs: string): string[] {
  const lit = `'${live.replace(/'/g, "''")}'`;
  return [
    `ALTER DATABASE ${quoteIdent(live)} ALLOW_CONNECTIONS false;`,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${lit};`,
    'BEGIN;',
    `ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(restoredAs)};`,
    `ALTER DATABASE ${quoteIdent(failed)} RENAME TO ${quoteIdent(live)};`,
    `ALTER DATABASE ${quoteIdent(live)} ALLOW_CONNECTIONS true;`,
    'COMMIT;',
  ];
}

/** The kept `<db>_failed_*` and `<db>_snap_*` databases with their sizes: they cost disk. */
export async function keptDatabases(
  client: Client,
  live: string,
): Promise<{ name: string; sizeBytes: number; allowConnections: boolean }[]> {
  const r = await client.query<{ name: string; size: string; allow: boolean }>(
    `SELECT datname AS name, pg_database_size(oid)::text AS size, datallowconn AS allow FROM pg_database
      WHERE left(datname, length($1) + 8) = $1 || '_failed_' OR left(datname, length($1) + 6) = $1 || '_snap_'
      ORDER BY datname`,
    [live],
  );
  return r.rows.map((row) => ({ name: row.name, sizeBytes: Number(row.size), allowConnections: row.allow }));
}
