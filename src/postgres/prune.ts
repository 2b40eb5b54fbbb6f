import type { Client } from 'pg';

import { quoteIdent } from './client';
import { keptDatabases } from './swap';

/** What a prune did: dropped, kept, and the ones it could not drop (with why). */
export interface PruneResult {
  dropped: string[];
  kept: string[];
  skipped: { name: string; reason: string }[];
}

/** The backup tag of a kept database (`shop_failed_20250101t020304z_ab12` → `20250101t020304z_ab12`). */
function tagOf(live: string, name: string): string {
  for (const kind of ['_failed_', '_snap_'])
    if (name.startsWith(live + kind)) return name.slice(live.length + kind.length);
  return '';
}

/**
 * Drops the kept `<live>_failed_*` and `<live>_snap_*` databases beyond the newest `keep` (newest by
 * the backup time in their names), never one named in `protect` (it counts towards `keep`), never
 * one with a session (plain DROP DATABASE, which refuses then): a retention policy the caller asks
 * for by name, never a default.
 */
export async function pruneKeptDatabases(
  client: Client,
  live: string,
  keep: number,
  protect: string[],
): Promise<PruneResult> {
  const kept = (await keptDatabases(client, live)).map((d) => d.name);
  const ordered = [...kept].sort((a, b) => {
    const byTag = tagOf(live, b).localeCompare(tagOf(live, a));
    return byTag !== 0 ? byTag : a.localeCompare(b);
  });
  const keepSet = new Set(protect.filter((p) => kept.includes(p)));
  for (const name of ordered) if (keepSet.size < keep) keepSet.add(name);
  const result: PruneResult = { dropped: [], kept: ordered.filter((n) => keepSet.has(n)), skipped: [] };
  for (const name of ordered) {
    if (keepSet.has(name)) continue;
    try {
      await client.query(`DROP DATABASE ${quoteIdent(name)}`);
      result.dropped.push(name);
    } catch (e) {
      result.skipped.push({ name, reason: (e as Error).message });
    }
  }
  return result;
}
