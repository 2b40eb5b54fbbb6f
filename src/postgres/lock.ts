import { SafetyError } from '../common/errors';
import { onCleanup } from '../process/cleanup';

import { maintenance, type ConnectionSettings } from './connection';
import { openClient } from './server-connect';

/** The first key of every migration-guard advisory lock ("MG" + "lk"). */
export const LOCK_CLASS = 0x4d476c6b;

/** A stable 31-bit key for a database name (FNV-1a), the second key of the lock. */
export function lockKey(database: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(database, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

export interface HeldLock {
  holder: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Who holds it, e.g. `backup run 123 attempt 1 by alice`; shown to a run that finds it busy. */
  holder: string;
  /** The maintenance database the lock connection opens; default `postgres`. */
  maintenanceDatabase?: string;
}

/**
 * Takes the suite's advisory lock for `settings.database` on a connection of its own to the
 * maintenance database, so backup, migrate and rollback never overlap on one database — even
 * while the target database itself is renamed or restored. Fails fast, naming the holder, when
 * busy. The lock dies with its connection, so a killed run never leaves it behind.
 */
export async function acquireLock(settings: ConnectionSettings, options: LockOptions): Promise<HeldLock> {
  const key = lockKey(settings.database);
  const appName = `migration-guard: ${options.holder}`.slice(0, 63);
  const client = await openClient(maintenance(settings, options.maintenanceDatabase), {
    applicationName: appName,
    keepAlive: true,
  });
  try {
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [
      LOCK_CLASS | 0,
      key,
    ]);
    if (!r.rows[0]?.ok) {
      const who = await client.query<{ pid: number; app: string; since: string; addr: string | null }>(
        `SELECT a.pid, a.application_name AS app, a.backend_start::text AS since, a.client_addr::text AS addr
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.classid = ($1::int)::oid AND l.objid = $2::oid AND l.objsubid = 2 AND l.granted`,
        [LOCK_CLASS | 0, key],
      );
      const row = who.rows[0];
      const desc = row
        ? `held by "${row.app || 'an unnamed session'}" (pid ${row.pid}${row.addr ? ` from ${row.addr}` : ''}, connected since ${row.since})`
        : 'held by another session';
      throw new SafetyError(
        `Another run is working on database "${settings.database}": the migration-guard lock is ${desc}. ` +
          'Wait for it to finish; if that run is dead, its lock is released when its connection closes.',
      );
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  const release = onCleanup(`release lock on ${settings.database}`, async () => {
    await client
      .query('SELECT pg_advisory_unlock($1::int, $2::int)', [LOCK_CLASS | 0, key])
      .catch(() => undefined);
    await client.end().catch(() => undefined);
  });
  return { holder: options.holder, release };
}

/** The holder text of the current GitHub run: action, run id and attempt, actor. */
export function runHolder(action: string, env: NodeJS.ProcessEnv = process.env): string {
  const run = env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}.${env.GITHUB_RUN_ATTEMPT ?? '1'}` : '';
  const actor = env.GITHUB_ACTOR ? ` by ${env.GITHUB_ACTOR}` : '';
  return `${action}${run}${actor}`;
}
