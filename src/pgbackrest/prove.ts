import { normalizeTableName, withClient, type Client } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import {
  compareFingerprints,
  countRows,
  fingerprintTables,
  listTables,
  type TableFingerprint,
} from '../postgres/fingerprint';

import type { PitrManifest } from './manifest';

export interface Proof {
  ok: boolean;
  problems: string[];
  summary: string;
}

const OPTIONS = { stableOutput: true, applicationName: 'migration-guard rollback proof' };

/**
 * Compares a restored cluster with the manifest: the same cluster (system identifier), the same
 * tables with the same row counts, and the protected tables' fingerprints (whose row counts stand
 * for a count). The side has no other session, so two sessions share the work, largest first.
 */
export async function proveRestored(connection: ConnectionSettings, m: PitrManifest): Promise<Proof> {
  const { id, tables } = await withClient(
    connection,
    async (c) => ({
      id: (await c.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))
        .rows[0]?.id,
      tables: await listTables(c),
    }),
    OPTIONS,
  );
  const problems: string[] = [];
  if (id !== m.server.systemIdentifier)
    problems.push(`system identifier ${id ?? '?'} is not the manifest's ${m.server.systemIdentifier}`);
  const fingerprinted = new Set(m.fingerprints.map((f) => f.table));
  // Tables the background evidence could not read at the point: restored with the rest, not proven.
  const unproven = new Set((m.evidenceGaps ?? []).map((g) => normalizeTableName(g.table)));
  const work = [
    ...m.fingerprints.map((f) => ({ table: f.table, fingerprint: true })),
    ...tables
      .filter((t) => !fingerprinted.has(t) && !unproven.has(normalizeTableName(t)))
      .map((t) => ({ table: t, fingerprint: false })),
  ].sort((a, b) => (m.rowCounts[b.table] ?? 0) - (m.rowCounts[a.table] ?? 0));
  const counts: Record<string, number> = {};
  const fps: TableFingerprint[] = [];
  const worker = async (c: Client): Promise<void> => {
    for (let item = work.shift(); item; item = work.shift()) {
      if (!tables.includes(item.table)) continue;
      if (item.fingerprint) {
        const [f] = await fingerprintTables(c, [item.table], { sequences: false });
        if (f) {
          fps.push(f);
          counts[f.table] = f.rows;
        }
      } else {
        Object.assign(counts, await countRows(c, [item.table]));
      }
    }
  };
  await Promise.all([withClient(connection, worker, OPTIONS), withClient(connection, worker, OPTIONS)]);
  for (const [t, n] of Object.entries(m.rowCounts)) {
    if (!(t in counts)) problems.push(`table ${t} is missing`);
    else if (counts[t] !== n) problems.push(`${t}: ${counts[t] ?? 0} rows, the manifest says ${n}`);
  }
  for (const t of tables)
    if (!(t in m.rowCounts) && !unproven.has(normalizeTableName(t)))
      problems.push(`table ${t} is not in the manifest`);
  for (const d of compareFingerprints(m.fingerprints, fps)) problems.push(`${d.table}: ${d.reason}`);
  return {
    ok: problems.length === 0,
    problems,
    summary: `${tables.length - unproven.size} table(s) counted, ${fps.length} fingerprint(s), cluster ${id ?? '?'}${unproven.size > 0 ? `; not proven (no evidence at the point): ${[...unproven].join(', ')}` : ''}`,
  };
}
