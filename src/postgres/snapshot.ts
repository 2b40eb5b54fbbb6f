import * as core from '@actions/core';

import { SafetyError } from '../common/errors';
import { onCleanup } from '../process/cleanup';
import { formatBytes } from '../report/format';
import { PhaseProgress } from '../report/progress';

import { quoteIdent, withClient } from './client';
import { withDatabase, type ConnectionSettings } from './connection';

export interface SessionInfo {
  pid: number;
  user: string | null;
  app: string | null;
  addr: string | null;
  state: string | null;
}

/**
 * Copies a database with `CREATE DATABASE <name> TEMPLATE <db>` — a file-level copy, far faster
 * than a restore. The template must have no other session, so new connections are held off
 * (ALLOW_CONNECTIONS false), the remaining sessions are terminated and logged, and connections are
 * allowed again afterwards on every path (a cleanup covers a cancellation in between).
 */
export async function createSnapshotDatabase(
  settings: ConnectionSettings,
  name: string,
): Promise<{ name: string; terminated: SessionInfo[]; durationMs: number; takenAt: Date }> {
  const started = Date.now();
  const db = quoteIdent(settings.database);
  return withClient(withDatabase(settings, 'postgres'), async (client) => {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount)
      throw new SafetyError(`Database "${name}" already exists; a snapshot is never overwritten.`);
    await client.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
    const allow = onCleanup(`allow connections to ${settings.database} again`, async () => {
      await client.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    });
    try {
      const r = await client
        .query<SessionInfo & { terminated: boolean }>(
          `SELECT pid, usename AS user, application_name AS app, client_addr::text AS addr, state,
                  pg_terminate_backend(pid) AS terminated
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [settings.database],
        )
        .catch((error: Error & { code?: string }) => {
          if (error.code !== '42501') throw error;
          throw new SafetyError(
            `the role may not end every session on ${settings.database} (${error.message}); stop those clients ` +
              '(stop-command) or use a role allowed to terminate them (pg_signal_backend; superuser for superuser sessions)',
          );
        });
      for (const s of r.rows) {
        core.warning(
          `Snapshot: terminated session pid ${s.pid} (user ${s.user ?? '?'}, application "${s.app ?? ''}", from ${s.addr ?? 'local socket'}, ${s.state ?? 'unknown state'}) on ${settings.database}.`,
        );
      }
      // From here no session can write to the database until the copy exists: the copy holds every
      // write committed before this moment.
      const takenAt = new Date();
      // pg_terminate_backend only signals: CREATE DATABASE retries for a few seconds while they exit.
      const progress = snapshotProgress(settings, name);
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${db}`);
      } catch (error) {
        progress.done(undefined, true);
        throw error;
      }
      progress.done(`${name} is a copy of ${settings.database}`);
      return {
        name,
        terminated: r.rows.map(({ pid, user, app, addr, state }) => ({ pid, user, app, addr, state })),
        durationMs: Date.now() - started,
        takenAt,
      };
    } finally {
      await allow();
    }
  });
}

/**
 * Progress lines of the copy: the WAL the server has written since the copy began (CREATE DATABASE
 * logs the pages it copies; the server is otherwise quiet, the database being closed) beside the
 * source's size. Read on a connection of its own (to the `postgres` database, not the source).
 */
function snapshotProgress(settings: ConnectionSettings, name: string): PhaseProgress {
  let text = 'copying';
  let start: string | undefined;
  let source: number | undefined;
  const read = (): Promise<void> =>
    withClient(
      withDatabase(settings, 'postgres'),
      async (c) => {
        const r = await c.query<{ lsn: string; size: string; since: string | null }>(
          `SELECT pg_current_wal_lsn()::text AS lsn, pg_database_size($1)::text AS size,
                  CASE WHEN $2::text IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::text END AS since`,
          [settings.database, start ?? null],
        );
        const row = r.rows[0];
        if (!row) return;
        start ??= row.lsn;
        source = Number(row.size);
        if (row.since !== null)
          text = `${formatBytes(Number(row.since))} of WAL written since the copy began (${settings.database} is ${formatBytes(source)})`;
      },
      { applicationName: 'migration-guard snapshot progress', connectTimeoutMs: 2000 },
    );
  // The first read marks where the copy's WAL begins; the lines then tell how much has been written.
  void read().catch(() => undefined);
  return new PhaseProgress(`Snapshot copy into ${name}`, () => text, { poll: read });
}
