import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { compareFingerprints, countRows, fingerprintTables, listTables } from '../postgres/fingerprint';

import type { PitrManifest } from './manifest';

export interface Proof {
  ok: boolean;
  problems: string[];
  summary: string;
}

/**
 * Compares a restored cluster with the manifest: the same cluster (system identifier), the same
 * tables with the same row counts, and the protected tables' fingerprints.
 */
export async function proveRestored(connection: ConnectionSettings, m: PitrManifest): Promise<Proof> {
  return withClient(
    connection,
    async (c) => {
      const problems: string[] = [];
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const id = (
          await c.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')
        ).rows[0]?.id;
        if (id !== m.server.systemIdentifier)
          problems.push(`system identifier ${id ?? '?'} is not the manifest's ${m.server.systemIdentifier}`);
        const tables = await listTables(c);
        const counts = await countRows(c, tables);
        for (const [t, n] of Object.entries(m.rowCounts)) {
          if (!(t in counts)) problems.push(`table ${t} is missing`);
          else if (counts[t] !== n) problems.push(`${t}: ${counts[t] ?? 0} rows, the manifest says ${n}`);
        }
        for (const t of tables) if (!(t in m.rowCounts)) problems.push(`table ${t} is not in the manifest`);
        const fps = await fingerprintTables(
          c,
          m.fingerprints.map((f) => f.table),
          { sequences: false },
        );
        for (const d of compareFingerprints(m.fingerprints, fps)) problems.push(`${d.table}: ${d.reason}`);
        return {
          ok: problems.length === 0,
          problems,
          summary: `${tables.length} table(s) counted, ${fps.length} fingerprint(s), cluster ${id ?? '?'}`,
        };
      } finally {
        await c.query('COMMIT').catch(() => undefined);
      }
    },
    { stableOutput: true, applicationName: 'migration-guard rollback proof' },
  );
}
