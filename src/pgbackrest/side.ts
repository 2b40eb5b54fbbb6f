import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { SafetyError } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { succeeded } from '../process/runner';

import { failure, runAs, type OsUser, type PgBackRest } from './command';
import type { PitrManifest } from './manifest';
import type { SideControl } from './state';

/** Where the server binaries are and as whom they run. */
export interface ServerTools {
  binDir: string;
  user?: OsUser;
}

/** `pg_ctl <args>` as the cluster's user. */
export function pgCtl(tools: ServerTools, args: readonly string[], timeoutMs = 600_000) {
  return runAs(tools.user, path.join(tools.binDir, 'pg_ctl'), args, {
    echo: false,
    timeoutMs,
    // A server started here must not be ended by the runner's clean-up of the job's processes.
    env: { RUNNER_TRACKING_ID: undefined },
  });
}

/** True when a server runs on `dataDir` (pg_ctl status: 0 running, 3 not running). */
export async function running(tools: ServerTools, dataDir: string): Promise<boolean> {
  const r = await pgCtl(tools, ['status', '-D', dataDir], 30_000);
  if (r.exitCode === 0) return true;
  // 3: not running; 4: no such data directory (a side not made yet).
  if (r.exitCode === 3 || r.exitCode === 4) return false;
  throw new Error(failure(`pg_ctl status on ${dataDir}`, r));
}

/** Stops the server on `dataDir` if one runs (fast shutdown: a clean checkpoint, no recovery at start). */
export async function stopServer(tools: ServerTools, dataDir: string): Promise<boolean> {
  if (!(await running(tools, dataDir))) return false;
  const r = await pgCtl(tools, ['stop', '-m', 'fast', '-w', '-t', '300', '-D', dataDir]);
  if (!succeeded(r)) throw new Error(failure(`pg_ctl stop on ${dataDir}`, r));
  return true;
}

export interface RestoreSideOptions {
  pgbr: PgBackRest;
  manifest: PitrManifest;
  sideDir: string;
  /** The side already holds a copy of this cluster: restore only what differs. */
  delta: boolean;
  /** `--process-max`: pgBackRest's parallel processes; its configured value when undefined. */
  processMax?: number;
}

/**
 * `pgbackrest restore` of the manifest's backup set into the side directory, to the named point
 * on the point's timeline, promoting when it is reached. pgBackRest writes pg_control last, so a
 * restore killed midway leaves a directory that cannot start (and a rerun redoes it with --delta).
 */
export async function restoreSide(o: RestoreSideOptions): Promise<void> {
  const m = o.manifest;
  const args = [
    `--pg1-path=${o.sideDir}`,
    `--set=${m.pgbackrest.backupLabel}`,
    '--type=name',
    `--target=${m.restorePoint.name}`,
    '--target-action=promote',
    `--target-timeline=${m.restorePoint.timeline}`,
  ];
  if (o.delta) args.push('--delta');
  if (o.processMax !== undefined) args.push(`--process-max=${o.processMax}`);
  const r = await o.pgbr.run('restore', args, { dieWithParent: true });
  if (!succeeded(r)) throw new Error(failure(`pgbackrest restore into ${o.sideDir}`, r));
}

/** The last lines of a server log, for an error. */
async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ');
}

/**
 * Starts the restored side on its own port and waits until recovery has reached the point and the
 * server promoted (`pg_is_in_recovery()` false). A recovery that ends before the point (WAL missing)
 * makes PostgreSQL stop; that is reported with the server's own words.
 */
export async function startSide(
  tools: ServerTools,
  sideDir: string,
  port: number,
  connection: ConnectionSettings,
  timeoutMs: number,
): Promise<void> {
  const log = `${sideDir}.log`;
  // Archiving stays on but with no command while the side is proven: the new timeline's history
  // file and first segments wait in pg_wal, marked ready, and are archived by the cluster once it is
  // in place. (The configured command refuses to run from the side's directory, and the archiver's
  // retries held the side's shutdown for ~4.4 s.)
  const start = await pgCtl(
    tools,
    [
      'start',
      '-w',
      '-t',
      String(Math.ceil(timeoutMs / 1000)),
      '-D',
      sideDir,
      '-l',
      log,
      '-o',
      `-p ${port} -c archive_command=''`,
    ],
    timeoutMs + 30_000,
  );
  if (!succeeded(start)) {
    throw new SafetyError(`The restored side did not start on port ${port}: ${await logTail(log)}`);
  }
  const side = { ...connection, port };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inRecovery = await withClient(
      side,
      async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r,
    ).catch(() => undefined);
    if (inRecovery === false) return;
    if (!(await running(tools, sideDir)))
      throw new SafetyError(
        `The restored side stopped before it reached the restore point: ${await logTail(log)}`,
      );
    if (Date.now() > deadline)
      throw new SafetyError(
        `The restored side did not reach the restore point within ${Math.round(timeoutMs / 1000)}s.`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** pg_controldata of a data directory: its state, last checkpoint and timeline. */
export async function controlData(tools: ServerTools, dataDir: string): Promise<SideControl> {
  const r = await runAs(tools.user, path.join(tools.binDir, 'pg_controldata'), ['-D', dataDir], {
    echo: false,
    timeoutMs: 30_000,
    env: { LC_ALL: 'C' },
  });
  if (!succeeded(r)) throw new Error(failure(`pg_controldata on ${dataDir}`, r));
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(r.stdout)?.[1]?.trim() ?? '';
  return {
    state: field('Database cluster state'),
    checkpoint: field('Latest checkpoint location'),
    timeline: field("Latest checkpoint's TimeLineID"),
  };
}
