import type { SequenceValue } from '../manifest';

import type { Client } from './client';
import { quoteTable } from './client';

export type { SequenceValue } from '../manifest';

/** The sequences each table owns (owned-by and identity), with their increments; keyed by `schema.table`. */
export async function ownedSequences(
  client: Client,
  tables: readonly string[],
): Promise<Map<string, Omit<SequenceValue, 'lastValue' | 'isCalled'>[]>> {
  const r = await client.query<{ tbl: string; seq: string; col: string; inc: string }>(
    `SELECT tn.nspname || '.' || t.relname AS tbl, sn.nspname || '.' || s.relname AS seq,
            a.attname AS col, q.seqincrement::text AS inc
       FROM pg_depend d
       JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
       JOIN pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_sequence q ON q.seqrelid = s.oid
       JOIN pg_class t ON t.oid = d.refobjid
       JOIN pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i') AND tn.nspname || '.' || t.relname = ANY($1::text[])
      ORDER BY 1, 2`,
    [[...tables]],
  );
  const out = new Map<string, Omit<SequenceValue, 'lastValue' | 'isCalled'>[]>(tables.map((t) => [t, []]));
  for (const row of r.rows)
    out.get(row.tbl)?.push({ sequence: row.seq, column: row.col, increment: row.inc });
  return out;
}

/** The current value of one sequence, or undefined when it no longer exists. */
export async function readSequence(
  client: Client,
  sequence: string,
): Promise<{ lastValue: string; isCalled: boolean } | undefined> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
    quoteTable(sequence),
  ]);
  if (!exists.rows[0]?.t) return undefined;
  try {
    const r = await client.query<{ last: string; called: boolean }>(
      `SELECT last_value::text AS last, is_called AS called FROM ${quoteTable(sequence)}`,
    );
    const row = r.rows[0];
    return row && { lastValue: row.last, isCalled: row.called };
  } catch (error) {
    if ((error as { code?: string }).code === '42501')
      throw new Error(
        `cannot read sequence ${sequence}: permission denied (grant SELECT on it to this role)`,
      );
    throw error;
  }
}

/** Owned sequences of the tables with their current values; keyed by `schema.table`. */
export async function sequencesOf(
  client: Client,
  tables: readonly string[],
): Promise<Map<string, SequenceValue[]>> {
  const owned = await ownedSequences(client, tables);
  const out = new Map<string, SequenceValue[]>();
  for (const [table, list] of owned) {
    const values: SequenceValue[] = [];
    for (const s of list) {
      const v = await readSequence(client, s.sequence);
      if (v) values.push({ ...s, ...v });
    }
    out.set(table, values);
  }
  return out;
}

/** `SELECT pg_catalog.setval('public.orders_id_seq', 50, true);` — pg_dump's SEQUENCE SET entry. */
export function parseSetval(defn: string): { lastValue: string; isCalled: boolean } | undefined {
  const m = /setval\('(?:[^']|'')*',\s*(-?\d+),\s*(true|false)\)/.exec(defn);
  return m?.[1] && m[2] ? { lastValue: m[1], isCalled: m[2] === 'true' } : undefined;
}

/** The value the next `nextval` returns. */
function nextValue(v: { lastValue: string; isCalled: boolean; increment: string }): bigint {
  return v.isCalled ? BigInt(v.lastValue) + BigInt(v.increment) : BigInt(v.lastValue);
}

/**
 * Sequences moved back since they were recorded: the next value of an ascending sequence is lower
 * (of a descending one, higher) than at backup time. Moving forward is fine — nextval happened. A
 * recorded sequence that is gone is a difference too.
 */
export function compareSequences(
  expected: readonly SequenceValue[],
  actual: ReadonlyMap<string, { lastValue: string; isCalled: boolean } | undefined>,
): { sequence: string; reason: string }[] {
  const out: { sequence: string; reason: string }[] = [];
  for (const e of expected) {
    const a = actual.get(e.sequence);
    if (!a) {
      out.push({ sequence: e.sequence, reason: `sequence ${e.sequence} is gone` });
      continue;
    }
    const before = nextValue(e);
    const now = nextValue({ ...a, increment: e.increment });
    const back = BigInt(e.increment) >= 0n ? now < before : now > before;
    if (back)
      out.push({
        sequence: e.sequence,
        reason: `sequence ${e.sequence} moved back: next value ${before} at backup, ${now} now`,
      });
  }
  return out;
}

/**
 * Attaches to each fingerprint the sequences its table owns: the values pg_dump wrote into the
 * archive (`SEQUENCE SET` entries), which a restore puts back; where the archive has none, the values
 * read before pg_dump started (never higher than what it then read).
 */
export function withSequences<F extends { table: string; sequences?: SequenceValue[] }>(
  fingerprints: readonly F[],
  before: ReadonlyMap<string, SequenceValue[]>,
  toc: readonly { desc: string; namespace: string; tag: string; defn?: string }[],
): (F & { sequences: SequenceValue[] })[] {
  const dumped = new Map<string, { lastValue: string; isCalled: boolean }>();
  for (const e of toc) {
    const v = e.desc === 'SEQUENCE SET' && e.defn ? parseSetval(e.defn) : undefined;
    if (v) dumped.set(`${e.namespace}.${e.tag}`, v);
  }
  return fingerprints.map((f) => ({
    ...f,
    sequences: (before.get(f.table) ?? []).map((s) => ({ ...s, ...dumped.get(s.sequence) })),
  }));
}
