import * as core from '@actions/core';

import { USER_SCHEMA, withClient, type Client } from './client';
import { withDatabase, type ConnectionSettings } from './connection';

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
