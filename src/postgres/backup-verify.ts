import { SafetyError } from '../common/errors';
import { onCleanup } from '../process/cleanup';
import { describeExit, runProcess, succeeded } from '../process/runner';

import { quoteIdent, withClient } from './client';
import { childEnv, withDatabase, type ConnectionSettings } from './connection';
import { stderrTail } from './dump';
import { countRows, listTables } from './fingerprint';
import { dbnameArg } from './side-names';
import type { ClientTools } from './tools';

/** Tables whose row count differs between the source (as recorded) and a restored copy. */
export function compareRowCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const out: string[] = [];
  for (const [table, rows] of Object.entries(expected)) {
    if (!(table in actual)) out.push(`${table}: missing from the restored copy`);
    else if (actual[table] !== rows)
      out.push(`${table}: ${rows} rows recorded, ${String(actual[table])} restored`);
  }
  for (const table of Object.keys(actual)) if (!(table in expected)) out.push(`${table}: not in the source`);
  return out;
}

/**
 * The strongest proof a dump is good: restore it into a scratch database, compare every table's
 * row count with the ones recorded from the source, and drop the scratch database on every path.
 */
export async function verifyByRestore(options: {
  tools: ClientTools;
  /** The server to restore on (the source's, or another one); its `database` is ignored. */
  settings: ConnectionSettings;
  scratchName: string;
  file: string;
  expectedCounts: Record<string, number>;
  timeoutMs: number;
}): Promise<{ database: string; tables: number; durationMs: number }> {
  const started = Date.now();
  const admin = withDatabase(options.settings, 'postgres');
  const scratch = withDatabase(options.settings, options.scratchName);
  await withClient(admin, (c) =>
    c.query(`CREATE DATABASE ${quoteIdent(options.scratchName)} TEMPLATE template0`),
  );
  const drop = onCleanup(`drop the scratch database ${options.scratchName}`, async () => {
    await withClient(admin, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${quoteIdent(options.scratchName)} WITH (FORCE)`),
    );
  });
  try {
    const restore = await runProcess(
      options.tools.paths.pg_restore,
      [
        '--exit-on-error',
        '--no-owner',
        '--no-privileges',
        '--jobs=2',
        dbnameArg(options.scratchName),
        '--',
        options.file,
      ],
      {
        env: childEnv(scratch),
        timeoutMs: options.timeoutMs,
        group: `pg_restore into ${options.scratchName}`,
      },
    );
    if (!succeeded(restore))
      throw new SafetyError(`The test restore failed: ${describeExit(restore)}${stderrTail(restore)}`);
    const actual = await withClient(scratch, async (c) => countRows(c, await listTables(c)));
    const problems = compareRowCounts(options.expectedCounts, actual);
    if (problems.length > 0) {
      throw new SafetyError(`The restored copy differs from the source: ${problems.slice(0, 5).join('; ')}.`);
    }
    return {
      database: options.scratchName,
      tables: Object.keys(actual).length,
      durationMs: Date.now() - started,
    };
  } finally {
    await drop();
  }
}
