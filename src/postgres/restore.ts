import * as core from '@actions/core';

import { describeExit, runProcess, succeeded } from '../process/runner';
import { RestoreProgressReport } from '../report/restore-progress';

import type { ArchiveListing } from './archive-listing';
import { quoteIdent, type Client } from './client';
import { childEnv, childOptions, withDatabase, type ConnectionSettings } from './connection';
import { dbnameArg } from './side-names';
import type { DatabaseInfo } from './swap';
import type { ClientTools } from './tools';

/** Creates an empty twin of `like` (owner, encoding, collation, ctype, locale provider) from template0. */
export async function createDatabaseLike(client: Client, name: string, like: DatabaseInfo): Promise<void> {
  const lit = (v: string): string => client.escapeLiteral(v);
  let sql = `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 OWNER ${quoteIdent(like.owner)} ENCODING ${lit(like.encoding)}`;
  sql += ` LC_COLLATE ${lit(like.collate)} LC_CTYPE ${lit(like.ctype)}`;
  if (like.localeProvider === 'i' && like.iculocale)
    sql += ` LOCALE_PROVIDER icu ICU_LOCALE ${lit(like.iculocale)}`;
  await client.query(sql);
}

/** Whether the role may keep the dump's owners (`ALTER … OWNER` to other roles needs a superuser). */
export async function canKeepOwners(client: Client): Promise<boolean> {
  const r = await client.query<{ s: boolean }>(
    'SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user',
  );
  return r.rows[0]?.s === true;
}

export interface RestoreOptions {
  jobs: number;
  keepOwners: boolean;
  /** max_parallel_maintenance_workers for the restore's sessions (the server's setting when undefined). */
  indexWorkers?: number;
  /**
   * Told, while the restore goes on, as pg_restore's workers take up (`launched`) and finish each
   * item of the archive (by dump id). Needs parallel mode (`jobs` > 1), which reports them.
   */
  progress?: RestoreProgress;
  /** The archive's listing: the totals of the progress lines (tables loaded of N, indexes built of M). */
  listing?: ArchiveListing;
}

export interface RestoreProgress {
  launched(id: number): void;
  finished(id: number): void;
}

/** pg_restore's environment: the connection, and the index build workers of its sessions if given. */
export function restoreEnv(
  settings: ConnectionSettings,
  database: string,
  indexWorkers?: number,
): Record<string, string | undefined> {
  const env = childEnv(withDatabase(settings, database));
  if (indexWorkers === undefined) return env;
  return {
    ...env,
    PGOPTIONS: childOptions(settings, {
      max_parallel_maintenance_workers: Math.max(0, Math.floor(indexWorkers)),
    }),
  };
}

/**
 * pg_restore's --verbose progress messages, kept out of the log on every path (errors and warnings are not).
 * Unanchored: pg_restore's parallel workers share its stderr and write a message's prefix and
 * text in separate writes, so two processes' lines can interleave.
 */
const PROGRESS =
  /^(connecting|processing|creating|launching|finished|entering|executing|setting|implied|restoring|dropping|disabling|enabling|reconnecting|transferring|reducing|skipping|leaving)\b/;
const ITEM_EVENT = /(launching|finished) item (\d+) /g;

/**
 * Whether a line of pg_restore's stderr is a --verbose progress message (kept out of the log).
 * Prefixes are dropped however they come: two workers' writes can leave "pg_restore:pg_restore: …".
 */
export function isRestoreProgress(line: string): boolean {
  const text = line.replace(/pg_restore:\s*/g, '').trim();
  return text === '' || (PROGRESS.test(text) && !/\b(error|warning|detail|hint):/i.test(text));
}

/**
 * pg_restore into `database` with `--exit-on-error` (by default it goes on after errors and exits
 * 0 with "errors ignored"), `-j` jobs; credentials by environment. Throws with the exit and the
 * last lines of stderr.
 */
export async function restoreDump(
  tools: ClientTools,
  settings: ConnectionSettings,
  database: string,
  dumpFile: string,
  options: RestoreOptions,
): Promise<void> {
  const progress = options.progress;
  // --verbose always: its messages are the progress lines' source (and stay out of the log).
  const args = ['--exit-on-error', `--jobs=${options.jobs}`, dbnameArg(database), '--verbose'];
  const report = new RestoreProgressReport(
    `pg_restore into ${database}`,
    options.listing && { tables: options.listing.tableData.length, built: options.listing.built ?? 0 },
  );
  if (!options.keepOwners) args.push('--no-owner');
  args.push('--', dumpFile);
  const said: string[] = [];
  /** Lines come scrubbed from the runner. */
  const onLine = (line: string): void => {
    report.line(line);
    for (const m of line.matchAll(ITEM_EVENT)) {
      if (m[1] === 'launching') progress?.launched(Number(m[2]));
      else progress?.finished(Number(m[2]));
    }
    if (!isRestoreProgress(line)) {
      core.info(line);
      said.push(line);
      if (said.length > 20) said.shift();
    }
  };
  const r = await runProcess(tools.paths.pg_restore, args, {
    env: restoreEnv(settings, database, options.indexWorkers),
    echo: false,
    onStderrLine: onLine,
    onSpawn: (child) => report.watch(child.pid),
    // A pg_restore orphaned by a killed run would go on writing into a database it no longer owns.
    dieWithParent: true,
  }).catch((error: unknown) => {
    report.done(true);
    throw error;
  });
  report.done(!succeeded(r));
  if (!succeeded(r)) {
    const tail = said.slice(-3).join(' | ');
    throw new Error(`Restore into "${database}" failed: ${describeExit(r)}${tail ? `: ${tail}` : ''}`);
  }
}
