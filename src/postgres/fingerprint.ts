import { createHash } from 'node:crypto';

import type { Client } from './client';
import { normalizeTableName, quoteTable, splitTableName } from './client';

/** Row count + content hash of one table: the one definition of "unchanged" in the whole suite. */
export interface TableFingerprint {
  table: string;
  rows: number;
  /** sha256 over the column signature, the row count and the order-independent row-hash sums. */
  hash: string;
}

/**
 * The row-hash aggregate. Each row's text form is hashed twice with PostgreSQL's 64-bit
 * `hashtextextended` (two seeds: 128 bits) and the hashes are summed (int128 accumulators): a sum,
 * unlike xor, does not depend on row order, sees a changed value, a lost row and a duplicated row,
 * and streams in the server with constant memory — no `string_agg`. `hashtextextended` is the hash
 * behind hash partitioning, so it is stable across server versions; it is ~2.5× cheaper than `md5`
 * here, which keeps a fingerprint close to the cost of reading the table once (docs/benchmarks.md).
 * It guards against accidents, not against an adversary choosing collisions.
 * The session must use stable output settings (see `withClient({ stableOutput: true })`).
 */
function fingerprintSql(table: string): string {
  return `SELECT count(*)::text AS rows,
    coalesce(sum(hashtextextended(x, 0)), 0)::text AS a,
    coalesce(sum(hashtextextended(x, 1)), 0)::text AS b
  FROM (SELECT t::text AS x FROM ${quoteTable(table)} AS t OFFSET 0) AS s`;
}

/** `name type` of every live column, in order, so a dropped or retyped column changes the hash. */
async function columnSignature(client: Client, table: string): Promise<string> {
  const { schema, table: name } = splitTableName(table);
  const r = await client.query<{ sig: string | null }>(
    `SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS sig
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, name],
  );
  const sig = r.rows[0]?.sig;
  if (!sig) throw new Error(`Table "${table}" does not exist (or has no columns) in the database.`);
  return sig;
}

/** Fingerprints one table on the given client (inside the caller's snapshot, if any). */
export async function fingerprintTable(client: Client, table: string): Promise<TableFingerprint> {
  const signature = await columnSignature(client, table);
  const r = await client.query<{ rows: string; a: string; b: string }>(fingerprintSql(table));
  const row = r.rows[0];
  if (!row) throw new Error(`No fingerprint for "${table}".`);
  const hash = createHash('sha256').update(`${signature}\n${row.rows}\n${row.a}\n${row.b}`).digest('hex');
  return { table: normalizeTableName(table), rows: Number(row.rows), hash };
}

/** Fingerprints several tables, one after the other, on one client (one snapshot). */
export async function fingerprintTables(
  client: Client,
  tables: readonly string[],
): Promise<TableFingerprint[]> {
  const out: TableFingerprint[] = [];
  for (const table of tables) out.push(await fingerprintTable(client, table));
  return out;
}

export interface FingerprintDifference {
  table: string;
  expected?: TableFingerprint;
  actual?: TableFingerprint;
  reason: string;
}

/** Compares fingerprints table by table; an empty list means "unchanged". */
export function compareFingerprints(
  expected: readonly TableFingerprint[],
  actual: readonly TableFingerprint[],
): FingerprintDifference[] {
  const diffs: FingerprintDifference[] = [];
  const byTable = new Map(actual.map((f) => [normalizeTableName(f.table), f]));
  for (const e of expected) {
    const a = byTable.get(normalizeTableName(e.table));
    if (!a) diffs.push({ table: e.table, expected: e, reason: 'missing' });
    else if (a.rows !== e.rows)
      diffs.push({ table: e.table, expected: e, actual: a, reason: `rows ${e.rows} → ${a.rows}` });
    else if (a.hash !== e.hash)
      diffs.push({ table: e.table, expected: e, actual: a, reason: 'content changed' });
  }
  return diffs;
}

/** Every ordinary user table (`schema.table`), for per-table row counts. */
export async function listTables(client: Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND NOT c.relispartition
      ORDER BY 1`,
  );
  return r.rows.map((row) => row.name);
}

/** Exact row counts (`count(*)`) of the given tables, in the caller's snapshot. */
export async function countRows(client: Client, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteTable(table)}`);
    counts[table] = Number(r.rows[0]?.n ?? 0);
  }
  return counts;
}
