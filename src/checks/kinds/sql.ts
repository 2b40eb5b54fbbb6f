import { withClient, type Client } from '../../postgres/client';
import { evaluate, parseExpectation, showObserved } from '../expectation';
import { deniedInText, effectsOfPlan, writePowers } from '../sql-guard';
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

/**
 * What validate's role could change (superuser, database owner, write privileges): the sql checks'
 * guard is then all that keeps a check from changing data, and the action warns. Empty when the
 * role cannot write or the database cannot be reached (the checks report that themselves).
 */
export async function roleWritePowers(context: CheckContext): Promise<string[]> {
  return readOnly(context, 15_000, writePowers).catch(() => []);
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
    const denied = query === undefined ? [] : deniedInText(query);
    if (denied.length) {
      fields.problem(
        'query',
        `calls ${denied.join(', ')}, which act(s) outside the transaction (another connection or session, a replication slot, a server file); a sql check may only read`,
      );
      return undefined;
    }
    return query === undefined || expect === undefined ? undefined : { query, expect };
  },
  describe: (spec) => spec.expect,
  async run(spec, context, timeoutMs): Promise<Outcome> {
    const expectation = parseExpectation(spec.expect);
    // The extended protocol refuses several statements, so "SELECT 1; COMMIT; DELETE …" cannot escape the transaction.
    const config = { text: spec.query, queryMode: 'extended' };
    const outcome = await readOnly(context, timeoutMs, async (client) => {
      // Planned first, not run: a call with effects outside the transaction is refused before it happens.
      const refusal = await effectsOfPlan(client, spec.query);
      return refusal ? { refusal } : { result: await client.query<Record<string, unknown>>(config) };
    });
    if (!outcome.result) return { passed: false, observed: 'refused', message: outcome.refusal ?? 'refused' };
    const result = outcome.result;
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
