import { createHash } from 'node:crypto';

/** PostgreSQL's identifier limit in bytes (NAMEDATALEN - 1). */
export const MAX_NAME_BYTES = 63;

/** Side databases of one backup: its snapshot, a scratch restore that proves it, a rollback's restore and the kept failed one. */
export type DatabaseKind = 'restore' | 'failed' | 'snap' | 'verify';

/**
 * The short, stable tag of a backup used in database names: `shop-20250101T020304Z-ab12` →
 * `20250101t020304z_ab12`. Ids that do not follow the convention get 12 hex digits of their sha256,
 * so the same backup always gives the same names (a rerun finds what an interrupted run left).
 */
export function backupShortId(backupId: string): string {
  const match = /-(\d{8}T\d{6}Z)-([0-9a-f]{4})$/i.exec(backupId);
  if (match?.[1] && match[2]) return `${match[1]}_${match[2]}`.toLowerCase();
  return createHash('sha256').update(backupId).digest('hex').slice(0, 12);
}

/**
 * `<db>_<kind>_<short>`, within the 63-byte limit: when too long, the database part is cut and an
 * 8-hex hash of the full database name is added, so two long names never share a side database.
 */
export function databaseNameFor(database: string, kind: DatabaseKind, short: string): string {
  const suffix = `_${kind}_${short}`;
  const full = `${database}${suffix}`;
  if (Buffer.byteLength(full, 'utf8') <= MAX_NAME_BYTES) return full;
  const tag = `~${createHash('sha256').update(database).digest('hex').slice(0, 8)}`;
  const room = MAX_NAME_BYTES - Buffer.byteLength(suffix + tag, 'utf8');
  let head = '';
  for (const ch of database) {
    if (Buffer.byteLength(head + ch, 'utf8') > room) break;
    head += ch;
  }
  return `${head}${tag}${suffix}`;
}

/** The names one rollback from one backup works with. */
export interface RollbackNames {
  live: string;
  side: string;
  failed: string;
  short: string;
}

export function rollbackNames(database: string, backupId: string): RollbackNames {
  const short = backupShortId(backupId);
  return {
    live: database,
    side: databaseNameFor(database, 'restore', short),
    failed: databaseNameFor(database, 'failed', short),
    short,
  };
}

/**
 * pg_restore's `--dbname` as a libpq conninfo naming only the database, so a name with `=` (legal in
 * PostgreSQL) is never read as a connection string.
 */
export function dbnameArg(database: string): string {
  return `--dbname=dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
