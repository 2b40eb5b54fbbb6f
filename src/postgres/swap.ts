import * as core from '@actions/core';

import { SafetyError, clause, errorMessage } from '../common/errors';
import { onCleanup } from '../process/cleanup';

import { quoteIdent, withClient, type Client } from './client';
import { withDatabase, type ConnectionSettings } from './connection';
import { databaseNameFor } from './side-names';
import { markerOn, newMarker, serverClock, writeMarker } from './swap-marker';

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
  return (await sessionsWithRights(client, database)).map(({ session }) => session);
}

export interface SessionWithRights {
  session: Session;
  terminable: boolean;
}

/**
 * The sessions on `database` and whether this role may end each one: a superuser may end any; any
 * other role only sessions of a non-superuser role whose privileges it has, or (as a member of
 * pg_signal_backend) of any non-superuser role. A session that advertises no role (a background
 * process) counts as a superuser's, as PostgreSQL counts it. Autovacuum workers are left out: the
 * rename and the drop end them themselves (CountOtherDBBackends), whoever runs them.
 */
export async function sessionsWithRights(client: Client, database: string): Promise<SessionWithRights[]> {
  const r = await client.query<Session & { terminable: boolean }>(
    `SELECT a.pid, a.usename AS "user", coalesce(a.application_name, '') AS application,
            a.client_addr::text AS "clientAddr", a.backend_start::text AS "backendStart", a.state,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
              OR (r.oid IS NOT NULL AND NOT r.rolsuper
                  AND (pg_has_role(current_user, r.oid, 'USAGE') OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE')))
              AS terminable
       FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
      WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type IS DISTINCT FROM 'autovacuum worker'
      ORDER BY a.pid`,
    [database],
  );
  return r.rows.map(({ terminable, ...session }) => ({ session, terminable: terminable === true }));
}

/**
 * Refuses (nothing changed) when a session on `database` is one this role may not end, naming it:
 * a superuser's session when the role is not a superuser, say. With `terminate` false, any session
 * is refused.
 */
export async function checkSessionsEndable(
  client: Client,
  database: string,
  terminate: boolean,
): Promise<void> {
  const sessions = await sessionsWithRights(client, database);
  const stuck = sessions.filter((s) => !terminate || !s.terminable).map((s) => s.session);
  if (stuck.length === 0) return;
  if (!terminate) {
    throw new SafetyError(
      `${stuck.length} session(s) still connected to "${database}" (${stuck.map(describeSession).join('; ')}) and terminate-sessions is false: ` +
        'nothing was changed. Stop those clients (stop-command) or set terminate-sessions: true.',
    );
  }
  throw new SafetyError(
    `${stuck.length} session(s) on "${database}" cannot be terminated by role "${String(await currentRole(client))}" ` +
      `(${stuck.map(describeSession).join('; ')}): ending them needs a superuser, or pg_signal_backend for sessions of other non-superuser roles. ` +
      'Nothing was changed; stop those clients first (stop-command).',
  );
}

async function currentRole(client: Client): Promise<string | undefined> {
  return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u;
}

/**
 * Blocks new connections to `database`, then terminates the sessions still on it (logging each
 * one) or, when `terminate` is false or a session may not be ended, gives the connections back
 * (as they were: `allowAfter`) and refuses. Returns the sessions ended.
 */
export async function emptyDatabase(
  client: Client,
  database: string,
  terminate: boolean,
  allowAfter = true,
): Promise<Session[]> {
  await checkSessionsEndable(client, database, terminate);
  await setAllowConnections(client, database, false);
  const giveBack = async (): Promise<void> => {
    if (allowAfter) await setAllowConnections(client, database, true);
  };
  try {
    // A client may have connected between the check and the block.
    await checkSessionsEndable(client, database, terminate);
  } catch (error) {
    await giveBack();
    throw error;
  }
  const sessions = await listSessions(client, database);
  if (sessions.length === 0) return [];
  for (const s of sessions) {
    core.warning(
      `Terminating session on "${database}": ${describeSession(s)}, connected since ${s.backendStart ?? '?'}, state ${s.state ?? '?'}`,
    );
    try {
      await client.query('SELECT pg_terminate_backend($1::int, 5000)', [s.pid]);
    } catch (error) {
      await giveBack();
      throw new SafetyError(
        `Could not terminate session ${describeSession(s)} on "${database}": ${clause(errorMessage(error))}. Connections were allowed again; nothing was changed.`,
      );
    }
  }
  for (let i = 0; i < 100; i++) {
    if ((await listSessions(client, database)).length === 0) return sessions;
    await new Promise((r) => setTimeout(r, 100));
  }
  await giveBack();
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
  /** Recorded in the swap marker (see `SwapMarker`). */
  backupId: string;
  restoredFrom?: string;
  run: string;
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
 * before the commit re-allows connections on the untouched live database; a run killed there
 * (SIGKILL, a lost runner) leaves the marker written before the block, from which a rerun gives
 * the connections back first (`reopenInterruptedWindow`). The commit also records the swap in the
 * marker, so a rerun resumes after it.
 */
export async function swapDatabases(settings: ConnectionSettings, options: SwapOptions): Promise<SwapResult> {
  const { live, replacement, failed } = options;
  return withClient(
    maintenance(settings),
    async (client) => {
      const before = await client.query<{ oid: number; allow: boolean }>(
        'SELECT oid::int AS oid, datallowconn AS allow FROM pg_database WHERE datname = $1',
        [live],
      );
      const liveRow = before.rows[0];
      if (!liveRow) throw new SafetyError(`Database "${live}" does not exist: nothing to swap.`);
      // Checked before anything is blocked: a session that may not be ended refuses the swap.
      await checkSessionsEndable(client, live, options.terminateSessions);
      await emptyDatabase(client, replacement, true);
      const sideMarker = await markerOn(client, replacement);
      const marker = newMarker({
        backupId: options.backupId,
        live,
        liveOid: liveRow.oid,
        liveAllowedConnections: liveRow.allow,
        failed,
        restoredFrom: options.restoredFrom,
        phase: 'blocking',
        blockedAt: await serverClock(client),
        run: options.run,
      });
      await writeMarker(client, replacement, marker);
      const started = Date.now();
      let committed = false;
      const giveBack = async (c: Client): Promise<void> => {
        if (liveRow.allow) await setAllowConnections(c, live, true);
        await writeMarker(c, replacement, sideMarker);
      };
      const reopen = onCleanup(`allow connections to ${live} again`, async () => {
        if (committed) return;
        await client.end().catch(() => undefined);
        await withClient(maintenance(settings), giveBack);
      });
      try {
        const terminated = await emptyDatabase(client, live, options.terminateSessions, liveRow.allow);
        await client.query('BEGIN');
        await client.query(`ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(failed)}`);
        await client.query(`ALTER DATABASE ${quoteIdent(replacement)} RENAME TO ${quoteIdent(live)}`);
        await setAllowConnections(client, live, true);
        await writeMarker(client, live, {
          ...marker,
          phase: 'swapped',
          swappedAt: await serverClock(client),
        });
        await client.query('COMMIT');
        committed = true;
        return { terminated, downtimeMs: Date.now() - started };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!committed) await giveBack(client).catch(() => undefined);
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

/** What the connected role may do to a database: the rename swap needs CREATEDB and the owner's rights. */
export interface RoleRights {
  role: string;
  superuser: boolean;
  createdb: boolean;
  /** The role has the privileges of the database's owner (may rename, block, drop it). */
  owner: boolean;
  databaseOwner: string;
}

export async function roleRights(client: Client, database: string): Promise<RoleRights | undefined> {
  const r = await client.query<RoleRights>(
    `SELECT current_user AS role, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
            pg_has_role(current_user, d.datdba, 'USAGE') AS owner, pg_get_userbyid(d.datdba) AS "databaseOwner"
       FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = $1`,
    [database],
  );
  return r.rows[0];
}

/**
 * Refuses, before any change, a role that could not create the side database or rename the live
 * one (PostgreSQL would stop it halfway otherwise): it needs SUPERUSER, or CREATEDB and the
 * privileges of the live database's owner.
 */
export function checkRoleRights(rights: RoleRights, database: string): void {
  if (rights.superuser) return;
  const missing: string[] = [];
  if (!rights.createdb) missing.push('CREATEDB (to create the side database and rename the live one)');
  if (!rights.owner)
    missing.push(
      `the privileges of "${database}"'s owner "${rights.databaseOwner}" (to block, rename or drop it)`,
    );
  if (missing.length === 0) return;
  throw new SafetyError(
    `Role "${rights.role}" cannot roll back "${database}": it lacks ${missing.join(' and ')}. Nothing was changed; ` +
      `grant it (ALTER ROLE "${rights.role}" CREATEDB; GRANT "${rights.databaseOwner}" TO "${rights.role}") or use the owner's role.`,
  );
}

/**
 * `<db>_failed_<short>`, or when a finished rollback from the same backup left that one,
 * `<db>_failed_<short>_2`, `_3`, …: a kept database is never overwritten or reused.
 */
export async function freeFailedName(client: Client, live: string, short: string): Promise<string> {
  for (let n = 1; n < 1000; n++) {
    const name = databaseNameFor(live, 'failed', n === 1 ? short : `${short}_${n}`);
    if (!(await databaseInfo(client, name))) return name;
  }
  throw new SafetyError(`Too many "${live}_failed_${short}*" databases are kept: drop some of them first.`);
}
