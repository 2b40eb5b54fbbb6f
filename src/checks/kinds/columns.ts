import { splitTableName } from '../../postgres/client';
import type { KindDefinition, Outcome } from '../types';

import { readOnly } from './sql';

export interface ColumnsSpec {
  present: string[];
  absent: string[];
}

const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}$/;

/** `products.retail_price` → public.products + retail_price; `shop.products.x` keeps its schema. */
function splitColumn(text: string): { schema: string; table: string; column: string } {
  const dot = text.lastIndexOf('.');
  const { schema, table } = splitTableName(text.slice(0, dot));
  return { schema, table, column: text.slice(dot + 1) };
}

/** Columns that must exist (`present`) or must be gone (`absent`). */
export const columnsKind: KindDefinition<ColumnsSpec> = {
  kind: 'columns',
  needs: ['database'],
  defaultTimeoutMs: 30_000,
  parse(fields) {
    const present = fields.stringList('present') ?? [];
    const absent = fields.stringList('absent') ?? [];
    if (present.length + absent.length === 0)
      fields.problem(undefined, 'list columns under "present" and/or "absent" (table.column)');
    const bad = [...present, ...absent].filter((c) => !COLUMN.test(c));
    for (const c of bad)
      fields.problem(
        present.includes(c) ? 'present' : 'absent',
        `"${c}" is not table.column or schema.table.column`,
      );
    return bad.length > 0 || present.length + absent.length === 0 ? undefined : { present, absent };
  },
  describe: (spec) =>
    [
      spec.present.length ? `present: ${spec.present.join(', ')}` : '',
      spec.absent.length ? `absent: ${spec.absent.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; '),
  async run(spec, context, timeoutMs): Promise<Outcome> {
    const wanted = [...spec.present, ...spec.absent].map(splitColumn);
    const existing = await readOnly(context, timeoutMs, async (client) => {
      const r = await client.query<{ s: string; t: string; c: string }>(
        `SELECT table_schema AS s, table_name AS t, column_name AS c FROM information_schema.columns
          WHERE (table_schema, table_name, column_name) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`,
        [wanted.map((w) => w.schema), wanted.map((w) => w.table), wanted.map((w) => w.column)],
      );
      return new Set(r.rows.map((row) => `${row.s}.${row.t}.${row.c}`));
    });
    const exists = (c: string): boolean => {
      const { schema, table, column } = splitColumn(c);
      return existing.has(`${schema}.${table}.${column}`);
    };
    const missing = spec.present.filter((c) => !exists(c));
    const stillThere = spec.absent.filter(exists);
    const problems = [
      missing.length ? `missing: ${missing.join(', ')}` : '',
      stillThere.length ? `still present: ${stillThere.join(', ')}` : '',
    ].filter(Boolean);
    return {
      passed: problems.length === 0,
      observed: problems.length === 0 ? 'as expected' : problems.join('; '),
      value: problems.length === 0,
      message: problems.length ? problems.join('; ') : undefined,
    };
  },
};
