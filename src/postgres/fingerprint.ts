import { createHash } from 'node:crypto';

import type { TableFingerprint } from '../manifest';

export type { TableFingerprint } from '../manifest';

import type { Client } from './client';
import { normalizeTableName, quoteTable, splitTableName, USER_SCHEMA } from './client';
import { copyOut } from './copy-out';
import { sequencesOf } from './fingerprint-sequences';

/** The last row hash, as four unsigned 32-bit words (h1..h4), so hashing a row allocates nothing. */
export const MURMUR_OUT = new Uint32Array(4);

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** MurmurHash3 x86_128 of `b[start, end)` into `MURMUR_OUT`. */
export function murmur3x86x128(b: Uint8Array, start: number, end: number, seed = 0): void {
  const len = end - start;
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  let i = start;
  for (const blocks = start + (len & ~15); i < blocks; i += 16) {
    let k1 =
      (b[i] as number) |
      ((b[i + 1] as number) << 8) |
      ((b[i + 2] as number) << 16) |
      ((b[i + 3] as number) << 24);
    let k2 =
      (b[i + 4] as number) |
      ((b[i + 5] as number) << 8) |
      ((b[i + 6] as number) << 16) |
      ((b[i + 7] as number) << 24);
    let k3 =
      (b[i + 8] as number) |
      ((b[i + 9] as number) << 8) |
      ((b[i + 10] as number) << 16) |
      ((b[i + 11] as number) << 24);
    let k4 =
      (b[i + 12] as number) |
      ((b[i + 13] as number) << 8) |
      ((b[i + 14] as number) << 16) |
      ((b[i + 15] as number) << 24);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const rest = len & 15;
  if (rest > 12) {
    let k4 = 0;
    for (let j = rest - 1; j >= 12; j--) k4 = (k4 << 8) | (b[i + j] as number);
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (rest > 8) {
    let k3 = 0;
    for (let j = Math.min(rest, 12) - 1; j >= 8; j--) k3 = (k3 << 8) | (b[i + j] as number);
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (rest > 4) {
    let k2 = 0;
    for (let j = Math.min(rest, 8) - 1; j >= 4; j--) k2 = (k2 << 8) | (b[i + j] as number);
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (rest > 0) {
    let k1 = 0;
    for (let j = Math.min(rest, 4) - 1; j >= 0; j--) k1 = (k1 << 8) | (b[i + j] as number);
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  MURMUR_OUT[0] = h1;
  MURMUR_OUT[1] = h2 + h1;
  MURMUR_OUT[2] = h3 + h1;
  MURMUR_OUT[3] = h4 + h1;
}

const TWO32 = 2 ** 32;
/** Accumulators stay exact numbers: 2^20 additions of < 2^32 each stay far below 2^53. */
const NORMALISE_EVERY = 2 ** 20;
const NEWLINE = 0x0a;

/**
 * Hashes the text lines of `COPY … TO STDOUT` (text format) as they stream, in any chunking: each
 * line (without its newline) gets a 128-bit MurmurHash3 (x86_128, seed 0) and the hashes are added
 * as four 32-bit words into exact accumulators, i.e. summed mod 2^128. A sum, unlike xor, does not
 * depend on row order, sees a changed value, a lost row and a duplicated row, and needs constant
 * memory. It guards against accidents, not against an adversary choosing collisions.
 *
 * A line `\.` ends the data (pg_dump's archive carries that terminator after a table's rows; a data
 * line can never be `\.`, since COPY escapes a backslash); whatever follows it is ignored. With
 * `hash: false` the lines are only counted (cheap: a native newline search).
 */
export class RowHasher {
  private rowCount = 0;
  private a0 = 0;
  private a1 = 0;
  private a2 = 0;
  private a3 = 0;
  private sinceNormalise = 0;
  private carry: Buffer | undefined;
  private ended = false;

  constructor(private readonly hash = true) {}

  get rows(): number {
    return this.rowCount;
  }

  /** Feeds `chunk[start, end)`. */
  update(chunk: Buffer, start = 0, end = chunk.length): void {
    if (this.ended || start >= end) return;
    let pos = start;
    if (this.carry) {
      const nl = chunk.indexOf(NEWLINE, pos);
      if (nl < 0 || nl >= end) {
        this.carry = Buffer.concat([this.carry, chunk.subarray(pos, end)]);
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(pos, nl)]);
      this.carry = undefined;
      this.line(line, 0, line.length);
      pos = nl + 1;
    }
    while (pos < end && !this.ended) {
      const nl = chunk.indexOf(NEWLINE, pos);
      if (nl < 0 || nl >= end) {
        this.carry = Buffer.from(chunk.subarray(pos, end));
        return;
      }
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (end - start === 2 && buf[start] === 0x5c && buf[start + 1] === 0x2e) {
      this.ended = true;
      return;
    }
    this.rowCount++;
    if (!this.hash) return;
    murmur3x86x128(buf, start, end);
    this.a0 += MURMUR_OUT[0] as number;
    this.a1 += MURMUR_OUT[1] as number;
    this.a2 += MURMUR_OUT[2] as number;
    this.a3 += MURMUR_OUT[3] as number;
    if (++this.sinceNormalise >= NORMALISE_EVERY) this.normalise();
  }

  private normalise(): void {
    let c = Math.floor(this.a0 / TWO32);
    this.a0 -= c * TWO32;
    this.a1 += c;
    c = Math.floor(this.a1 / TWO32);
    this.a1 -= c * TWO32;
    this.a2 += c;
    c = Math.floor(this.a2 / TWO32);
    this.a2 -= c * TWO32;
    this.a3 += c;
    this.a3 %= TWO32;
    this.sinceNormalise = 0;
  }

  /**
   * Ends the stream: a last line without a newline counts too. Returns the row count and the sum
   * (32 hex digits, most significant word first).
   */
  finish(): { rows: number; sum: string } {
    if (this.carry && this.carry.length > 0) this.line(this.carry, 0, this.carry.length);
    this.carry = undefined;
    this.ended = true;
    this.normalise();
    const hex = (n: number): string => n.toString(16).padStart(8, '0');
    return { rows: this.rowCount, sum: hex(this.a3) + hex(this.a2) + hex(this.a1) + hex(this.a0) };
  }
}

/** What a fingerprint needs to know of a table besides its rows. */
export interface TableShape {
  table: string;
  /** `name type` of every column COPY emits (live, not generated), in order. */
  signature: string;
  columns: string[];
  /** A plain table without inheritance children or partitions: `COPY t TO STDOUT` reads all its rows. */
  plain: boolean;
}

/**
 * The column signature and kind of a table. The signature lists exactly the columns that COPY and
 * pg_dump emit (not dropped, not generated), so a dropped or retyped column changes the hash.
 */
export async function tableShape(client: Client, table: string): Promise<TableShape> {
  const { schema, table: name } = splitTableName(table);
  const r = await client.query<{ sig: string | null; cols: string[] | null; plain: boolean }>(
    `SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS sig,
            array_agg(quote_ident(a.attname) ORDER BY a.attnum) AS cols,
            bool_and(c.relkind = 'r' AND NOT c.relhassubclass) AS plain
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`,
    [schema, name],
  );
  const row = r.rows[0];
  if (!row?.sig || !row.cols)
    throw new Error(`Table "${table}" does not exist (or has no columns) in the database.`);
  return { table: normalizeTableName(table), signature: row.sig, columns: row.cols, plain: row.plain };
}

/** The fingerprint of a table from its shape and the finished row hasher. */
export function fingerprintOf(shape: TableShape, result: { rows: number; sum: string }): TableFingerprint {
  const hash = createHash('sha256').update(`${shape.signature}\n${result.rows}\n${result.sum}`).digest('hex');
  return { table: shape.table, rows: result.rows, hash };
}

/**
 * The COPY that emits a table's rows as pg_dump does (children and partitions included). The
 * columns are named, as pg_dump names them: a column added since the shape was read (a migration
 * running beside a snapshot's evidence) is not emitted.
 */
function copySql(shape: TableShape): string {
  return shape.plain
    ? `COPY ${quoteTable(shape.table)} (${shape.columns.join(', ')}) TO STDOUT`
    : `COPY (SELECT ${shape.columns.join(', ')} FROM ${quoteTable(shape.table)}) TO STDOUT`;
}

/**
 * Fingerprints one table on the given client (inside the caller's snapshot, if any), streaming
 * `COPY … TO STDOUT` through the row hasher. The client must use stable output settings
 * (`withClient({ stableOutput: true })`), so the text equals what pg_dump writes.
 */
export async function fingerprintTable(client: Client, table: string): Promise<TableFingerprint> {
  const shape = await tableShape(client, table);
  const hasher = new RowHasher();
  await copyOut(client, copySql(shape), (chunk, start, end) => hasher.update(chunk, start, end));
  return fingerprintOf(shape, hasher.finish());
}

/**
 * Fingerprints several tables, one after the other, on one client (one snapshot), each with the
 * sequences it owns and their current values (`sequences: false` leaves them out).
 */
export async function fingerprintTables(
  client: Client,
  tables: readonly string[],
  options: { sequences?: boolean } = {},
): Promise<TableFingerprint[]> {
  const out: TableFingerprint[] = [];
  for (const table of tables) out.push(await fingerprintTable(client, table));
  if (options.sequences === false) return out;
  const owned = await sequencesOf(
    client,
    out.map((f) => f.table),
  );
  return out.map((f) => ({ ...f, sequences: owned.get(f.table) ?? [] }));
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
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA}
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
