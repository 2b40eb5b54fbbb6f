import { normalizeTableName } from '../../postgres/client';
import { compareFingerprints, fingerprintTables } from '../../postgres/fingerprint';
import type { KindDefinition, Outcome } from '../types';

import { readOnly } from './sql';

export interface UnchangedSpec {
  tables: string[];
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/**
 * Tables whose row count and content fingerprint must equal the backup manifest's: the same
 * fingerprint function as the backup, in one REPEATABLE READ snapshot.
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
      return {
        passed: false,
        observed: `no fingerprint in backup ${manifest.backupId}: ${notInManifest.join(', ')}`,
        message: `the manifest has no fingerprint of ${notInManifest.join(', ')} (protect them at backup time)`,
      };
    }
    const expected = spec.tables
      .map((t) => byTable.get(normalizeTableName(t)))
      .filter((f) => f !== undefined);
    const present = await readOnly(
      context,
      timeoutMs,
      async (client) => {
        const r = await client.query<{ name: string }>(
          `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname || '.' || c.relname = ANY($1::text[])`,
          [expected.map((f) => normalizeTableName(f.table))],
        );
        const names = new Set(r.rows.map((row) => row.name));
        return fingerprintTables(
          client,
          expected.map((f) => normalizeTableName(f.table)).filter((t) => names.has(t)),
        );
      },
      { stableOutput: true, repeatableRead: true },
    );
    const diffs = compareFingerprints(expected, present);
    const rows = expected.map((e) => {
      const d = diffs.find((x) => normalizeTableName(x.table) === normalizeTableName(e.table));
      const a = present.find((p) => p.table === normalizeTableName(e.table));
      return [e.table, String(e.rows), a ? String(a.rows) : 'missing', d ? `❌ ${d.reason}` : '✅ unchanged'];
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
        : undefined,
      details: {
        title: `Protected tables against backup ${manifest.backupId}`,
        rows: [['table', 'rows at backup', 'rows now', 'result'], ...rows],
      },
    };
  },
};
