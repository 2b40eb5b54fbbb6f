import { withClient, type Client } from '../../postgres/client';
import { evaluate, parseExpectation, showObserved } from '../expectation';
import type { CheckContext, KindDefinition, Outcome } from '../types';

export interface SqlSpec {
  query: string;
  expect: string;
}

/**
 * Runs `fn` inside a READ ONLY transaction with a statement timeout, always rolled back: a check
 * can read but never change the database it judges.
 */
export async function readOnly<T>(
  context: CheckContext,
  timeoutMs: number,
  fn: (client: Client) => Promise<T>,
  options: { stableOutput?: boolean; repeatableRead?: boolean } = {},
): Promise<T> {
  if (!context.connection) throw new Error('no database connection (set the database-url input)');
  return withClient(
    context.connection,
    async (client) => {
      await client.query(
        `BEGIN TRANSACTION ISOLATION LEVEL ${options.repeatableRead ? 'REPEATABLE READ' : 'READ COMMITTED'} READ ONLY`,
      );
      try {
        await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
        return await fn(client);
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    },
    {
      applicationName: 'migration-guard validate',
      stableOutput: options.stableOutput,
      connectTimeoutMs: Math.min(timeoutMs, 15000),
    },
  );
}

/** bigint and numeric arrive as text; a value that is exactly a number is used as one. */
function numeric(value: unknown): unknown {
  if (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value)) return value;
  const n = Number(value);
  return Number.isSafeInteger(n) || (!Number.isInteger(n) && String(n) === value) ? n : value;
}

/** A scalar query and an expectation on its value. */
export const sqlKind: KindDefinition<SqlSpec> = {
  kind: 'sql',
  needs: ['database'],
  defaultTimeoutMs: 30_000,
  parse(fields) {
    const query = fields.string('query', { required: true, template: false });
    const expect = fields.expectation('expect', { required: true });
    if (query !== undefined && !/^\s*(select|with|values|table)\b/i.test(query)) {
      fields.problem('query', 'must be a SELECT (or WITH / VALUES / TABLE) query returning one value');
      return undefined;
    }
    return query === undefined || expect === undefined ? undefined : { query, expect };
  },
  describe: (spec) => spec.expect,
  async run(spec, context, timeoutMs): Promise<Outcome> {
    const expectation = parseExpectation(spec.expect);
    // The extended protocol refuses several statements, so "SELECT 1; COMMIT; DELETE …" cannot escape the transaction.
    const config = { text: spec.query, queryMode: 'extended' };
    const result = await readOnly(context, timeoutMs, (client) =>
      client.query<Record<string, unknown>>(config),
    );
    if (result.rows.length !== 1 || result.fields.length !== 1) {
      return {
        passed: false,
        observed: `${result.rows.length} rows × ${result.fields.length} columns`,
        message: 'the query must return exactly one row with one column',
      };
    }
    const field = result.fields[0]?.name ?? '';
    const value = numeric(result.rows[0]?.[field] ?? null);
    const verdict = evaluate(expectation, value);
    return { passed: verdict.passed, observed: showObserved(value), value, message: verdict.reason };
  },
};
