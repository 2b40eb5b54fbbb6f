import { withClient } from './client';
import type { ConnectionSettings } from './connection';
import { readDjangoMigrations, type AppliedMigration } from './django';
import { countRows, fingerprintTables, listTables, type TableFingerprint } from './fingerprint';

/** What a backup proves about its contents, all read in the dump's own snapshot. */
export interface BackupEvidence {
  snapshotTakenAt: string;
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
  djangoMigrations?: AppliedMigration[];
  durationMs: number;
}

/**
 * Opens a REPEATABLE READ transaction, exports its snapshot, and runs `dump(snapshotId)` while the
 * same transaction counts every table's rows and fingerprints the protected tables. pg_dump imports
 * the snapshot, so the counts and fingerprints are exactly the dump's contents — not those of a
 * moment before or after it. The transaction stays open until both are done.
 */
export async function dumpWithEvidence<T>(
  settings: ConnectionSettings,
  protectedTables: readonly string[],
  dump: (snapshotId: string) => Promise<T>,
): Promise<{ dump: T; evidence: BackupEvidence }> {
  return withClient(
    settings,
    async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const r = await client.query<{ id: string; at: Date }>(
        'SELECT pg_export_snapshot() AS id, now() AS at',
      );
      const row = r.rows[0];
      if (!row) throw new Error('The server exported no snapshot.');
      const collect = async (): Promise<BackupEvidence> => {
        const started = Date.now();
        const fingerprints = await fingerprintTables(client, protectedTables);
        // A fingerprint already carries its table's row count: those tables are not scanned twice.
        const counted = new Map(fingerprints.map((f) => [f.table, f.rows]));
        const tables = await listTables(client);
        const others = await countRows(
          client,
          tables.filter((t) => !counted.has(t)),
        );
        const rowCounts = Object.fromEntries(tables.map((t) => [t, counted.get(t) ?? others[t] ?? 0]));
        const djangoMigrations = await readDjangoMigrations(client);
        return {
          snapshotTakenAt: row.at.toISOString(),
          rowCounts,
          fingerprints,
          djangoMigrations,
          durationMs: Date.now() - started,
        };
      };
      const [dumped, collected] = await Promise.allSettled([dump(row.id), collect()]);
      await client.query('ROLLBACK').catch(() => undefined);
      // The dump's own error explains more (pg_dump's message) than a count that failed with it.
      if (dumped.status === 'rejected') throw dumped.reason;
      if (collected.status === 'rejected') throw collected.reason;
      return { dump: dumped.value, evidence: collected.value };
    },
    { stableOutput: true, applicationName: 'migration-guard backup snapshot' },
  );
}
