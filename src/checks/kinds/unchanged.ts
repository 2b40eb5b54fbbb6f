import { normalizeTableName } from '../../postgres/client';
import { compareFingerprints, fingerprintTables } from '../../postgres/fingerprint';
import { compareSequences, readSequence } from '../../postgres/fingerprint-sequences';
import type { KindDefinition, Outcome } from '../types';

import { readOnly } from './sql';

export interface UnchangedSpec {
  tables: string[];
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/**
 * Tables whose row count and content fingerprint must equal the backup manifest's: the same
 * fingerprint function as the backup, in one REPEATABLE READ snapshot. The sequences they own must
 * not have moved back (a manifest without sequence values: not checked, and the result says so).
 */
export const unchangedKind: KindDefinition<UnchangedSpec> = {
  kind: 'unchanged',
  needs: ['database', 'manifest'],
  defaultTimeoutMs: 300_000,
  parse(fields) {
    const tables = fields.stringList('tables', { required: true });
    if (!tables) return undefined;
    const bad = tables.filter((t) => !TABLE.test(t));
    for (const t of bad) fields.problem('tables', `"${t}" is not a table name (table or schema.table)`);
    return bad.length ? undefined : { tables };
  },
  describe: (spec) => `same rows and content as the backup: ${spec.tables.join(', ')}`,
  async run(spec, context, timeoutMs): Promise<Outcome> {
    const manifest = context.manifest;
    if (!manifest) throw new Error('no backup manifest (set the manifest input)');
    const byTable = new Map(manifest.fingerprints.map((f) => [normalizeTableName(f.table), f]));
    const notInManifest = spec.tables.filter((t) => !byTable.has(normalizeTableName(t)));
    if (notInManifest.length) {
      const gaps = new Map((manifest.evidenceGaps ?? []).map((g) => [normalizeTableName(g.table), g.reason]));
      const why = notInManifest.filter((t) => gaps.has(normalizeTableName(t)));
      if (why.length)
        return {
          passed: false,
          observed: `no evidence of ${why.join(', ')} at restore point ${manifest.backupId}: ${why.map((t) => gaps.get(normalizeTableName(t))).join('; ')}`,
          message: `the backup could not read ${why.join(', ')} at its point, so it cannot be checked unchanged (take the evidence with evidence: now for a migration that rewrites a protected table)`,
        };
      return {
        passed: false,
        observed: `no fingerprint in backup ${manifest.backupId}: ${notInManifest.join(', ')}`,
        message: `the manifest has no fingerprint of ${notInManifest.join(', ')} (protect them at backup time)`,
      };
    }
    const expected = spec.tables
      .map((t) => byTable.get(normalizeTableName(t)))
      .filter((f) => f !== undefined);
    const { present, sequencesNow } = await readOnly(
      context,
      timeoutMs,
      async (client) => {
        const r = await client.query<{ name: string }>(
          `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname || '.' || c.relname = ANY($1::text[])`,
          [expected.map((f) => normalizeTableName(f.table))],
        );
        const names = new Set(r.rows.map((row) => row.name));
        const prints = await fingerprintTables(
          client,
          expected.map((f) => normalizeTableName(f.table)).filter((t) => names.has(t)),
          // Read below by the names the manifest recorded.
          { sequences: false },
        );
        const now = new Map<string, Awaited<ReturnType<typeof readSequence>>>();
        for (const f of expected)
          for (const q of f.sequences ?? []) now.set(q.sequence, await readSequence(client, q.sequence));
        return { present: prints, sequencesNow: now };
      },
      { stableOutput: true, repeatableRead: true },
    );
    const diffs = compareFingerprints(expected, present).map((d) => ({
      table: normalizeTableName(d.table),
      reason: d.reason,
    }));
    for (const e of expected) {
      for (const q of compareSequences(e.sequences ?? [], sequencesNow))
        diffs.push({ table: normalizeTableName(e.table), reason: q.reason });
    }
    const unrecorded = expected.filter((e) => e.sequences === undefined).map((e) => e.table);
    const sequenceNote = unrecorded.length
      ? `sequences not checked for ${unrecorded.join(', ')}: backup ${manifest.backupId} recorded none (made before sequences were recorded)`
      : undefined;
    const rows = expected.map((e) => {
      const t = normalizeTableName(e.table);
      const reasons = diffs.filter((x) => x.table === t).map((x) => x.reason);
      const a = present.find((p) => p.table === t);
      const sequences =
        e.sequences === undefined
          ? 'not checked (not in the manifest)'
          : e.sequences.length === 0
            ? 'none'
            : e.sequences
                .map(
                  (q) =>
                    `${q.sequence} ${q.lastValue} → ${sequencesNow.get(q.sequence)?.lastValue ?? 'gone'}`,
                )
                .join(', ');
      return [
        e.table,
        String(e.rows),
        a ? String(a.rows) : 'missing',
        sequences,
        reasons.length ? `❌ ${reasons.join('; ')}` : '✅ unchanged',
      ];
    });
    const total = present.reduce((s, f) => s + f.rows, 0);
    return {
      passed: diffs.length === 0,
      observed:
        diffs.length === 0
          ? `${expected.length} tables unchanged (${total} rows)`
          : diffs.map((d) => `${d.table}: ${d.reason}`).join('; '),
      value: diffs.length === 0,
      message: diffs.length
        ? `changed since backup ${manifest.backupId}: ${diffs.map((d) => `${d.table} (${d.reason})`).join(', ')}`
        : sequenceNote,
      details: {
        title: `Protected tables against backup ${manifest.backupId}${sequenceNote ? ` (${sequenceNote})` : ''}`,
        rows: [['table', 'rows at backup', 'rows now', 'sequences (at backup → now)', 'result'], ...rows],
      },
    };
  },
};
