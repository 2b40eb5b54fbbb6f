import { createHash } from 'node:crypto';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

import { errorMessage, SafetyError } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';

import { clusterFacts, otherDatabases } from './cluster';
import type { OsUser, PgBackRest } from './command';
import { cutOver, type CutoverResult } from './cutover';
import type { PitrManifest } from './manifest';
import { proveRestored, type Proof } from './prove';
import { checkRepositoryHolds } from './repository';
import { controlData, restoreSide, running, startSide, stopServer, type ServerTools } from './side';
import { readState, writeState, type PitrState, type PreparedSide, type SideControl } from './state';

export interface PitrRollbackOptions {
  /** The live cluster, connected to the database the manifest protects. */
  connection: ConnectionSettings;
  pgbr: PgBackRest;
  manifest: PitrManifest;
  pgdata: string;
  sideDir: string;
  sidePort: number;
  binDir: string;
  owner?: OsUser;
  stopCommand?: string;
  startCommand?: string;
  /** `hook-timeout` for the cluster's stop and start (default 10 minutes). */
  hookTimeoutMs?: number;
  /** `--process-max` for the restore; pgBackRest's own setting when undefined. */
  processMax?: number;
  /** `cluster`: the team knows every database of the cluster goes back to the point. */
  scope: 'database' | 'cluster';
  /** Recovery (restore + replay to the point) and health time limits. */
  recoveryTimeoutMs: number;
  healthTimeoutMs: number;
  /** A name for the kept live directory (default `<pgdata>.before-<backup id>`). */
  asideDir?: string;
}

/** What the check found: a fresh run, a side prepared for it, or an earlier run to finish or report. */
export type PitrPlan =
  | { kind: 'fresh'; state: PitrState; delta: boolean; repository: string; stale?: string }
  | { kind: 'prepared'; state: PitrState & { prepared: PreparedSide } }
  | { kind: 'cutover'; state: PitrState }
  | { kind: 'done'; state: PitrState };

async function isEmptyOrMissing(dir: string): Promise<'missing' | 'empty' | 'full'> {
  try {
    return (await readdir(dir)).length === 0 ? 'empty' : 'full';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Where a pitr rollback works, before its manifest is known (a rollback prepared in the background). */
export interface PitrPlace {
  connection: ConnectionSettings;
  pgdata: string;
  sideDir: string;
  sidePort: number;
  scope: 'database' | 'cluster';
  /** The database the rollback is for (the manifest's, once known; else the connection's). */
  database: string;
}

/** What `checkPlace` found: the real paths, the live cluster's facts, and the side's state. */
export interface CheckedPlace {
  pgdata: string;
  side: string;
  sideState: 'missing' | 'empty' | 'full';
  facts: Awaited<ReturnType<typeof clusterFacts>>;
  /** The databases besides the connection's, refused unless scope is cluster. */
  others: string[];
}

/**
 * The checks that need no manifest: `pgdata` is the live server's data directory and holds its
 * configuration, no other database would be rolled back unasked, the side directory is free (or
 * this rollback's own, per the marker), does not overlap the data directory, and is on its file
 * system (the cut-over is two renames), and the side port is not the live one.
 */
export async function checkPlace(o: PitrPlace, earlier: PitrState | undefined): Promise<CheckedPlace> {
  const { facts, configFile } = await withClient(o.connection, async (c) => ({
    facts: await clusterFacts(c),
    configFile: (await c.query<{ f: string | null }>("SELECT current_setting('config_file', true) AS f"))
      .rows[0]?.f,
  }));
  const pgdata = await realpath(o.pgdata).catch(() => {
    throw new SafetyError(`Input "pgdata" ${o.pgdata} does not exist.`);
  });
  if (
    !facts.dataDirectory ||
    (await realpath(facts.dataDirectory).catch(() => facts.dataDirectory)) !== pgdata
  ) {
    throw new SafetyError(
      `Input "pgdata" is ${o.pgdata}, but the server's data_directory is ${facts.dataDirectory ?? '(not readable by this role)'}.`,
    );
  }
  // The side is started by pg_ctl on the restored directory alone: its configuration must be in it.
  // Debian's layout (pg_ctlcluster, -c config_file=/etc/postgresql/…) keeps it elsewhere.
  const config = configFile ? await realpath(configFile).catch(() => configFile) : undefined;
  if (config && path.dirname(config) !== pgdata) {
    throw new SafetyError(
      `The server reads its configuration from ${config}, outside the data directory ${pgdata} (Debian's pg_ctlcluster layout): the restored side could not be started from its own directory, so strategy pitr does not support this layout yet. Nothing was changed.`,
    );
  }
  const others = otherDatabases(facts.databases, o.database);
  refuseOthers(others, o.scope, 'the point');
  const side = path.resolve(o.sideDir);
  if (inside(side, pgdata) || inside(pgdata, side))
    throw new SafetyError(`Input "side-pgdata" ${o.sideDir} overlaps the data directory ${pgdata}.`);
  if (o.sidePort === o.connection.port)
    throw new SafetyError(`Input "side-port" ${o.sidePort} is the live cluster's port.`);
  const sideState = await isEmptyOrMissing(side);
  if (sideState === 'full' && earlier?.side !== side) {
    throw new SafetyError(
      `Input "side-pgdata" ${side} exists and is not empty, and no earlier rollback made it; move it away or choose another directory.`,
    );
  }
  const [devData, devSide] = await Promise.all([
    stat(path.dirname(pgdata)),
    stat(sideState === 'missing' ? path.dirname(side) : side).catch(() => {
      throw new SafetyError(`The folder of input "side-pgdata" (${path.dirname(side)}) does not exist.`);
    }),
  ]);
  if (devData.dev !== devSide.dev)
    throw new SafetyError(
      `Input "side-pgdata" ${side} is on another file system than ${pgdata}; the cut-over must be a rename.`,
    );
  return { pgdata, side, sideState, facts, others };
}

function refuseOthers(others: string[], scope: 'database' | 'cluster', when: string): void {
  if (others.length > 0 && scope !== 'cluster') {
    throw new SafetyError(
      `A point-in-time restore rolls back the whole cluster, and it also holds ${others.map((d) => `"${d}"`).join(', ')}; set scope: cluster if they may go back to ${when} too.`,
    );
  }
}

/** The sha256 of a manifest's JSON: a prepared side is used only for the manifest it was proven against. */
export function manifestDigest(m: PitrManifest): string {
  return createHash('sha256').update(JSON.stringify(m)).digest('hex');
}

/**
 * Why a side prepared for this manifest can no longer be used as proven (undefined: it can): it was
 * proven against another manifest, a server runs on it, or its pg_control moved since it was stopped
 * (someone started it).
 */
async function staleness(o: PitrRollbackOptions, p: PreparedSide, side: string): Promise<string | undefined> {
  if (p.manifestDigest !== manifestDigest(o.manifest)) return 'it was proven against another manifest';
  const tools: ServerTools = { binDir: o.binDir, user: o.owner };
  if (await running(tools, side)) return 'a server runs on it';
  let now: SideControl;
  try {
    now = await controlData(tools, side);
  } catch (error) {
    return `its pg_control cannot be read (${errorMessage(error)})`;
  }
  const was = p.control;
  if (now.state !== was.state || now.checkpoint !== was.checkpoint || now.timeline !== was.timeline)
    return `it changed since it was proven (pg_control: ${now.state}, checkpoint ${now.checkpoint} on timeline ${now.timeline}; it was ${was.state}, ${was.checkpoint} on ${was.timeline})`;
  return undefined;
}

/**
 * Everything checked before any change: an earlier run's marker, the live cluster is the one the
 * manifest was taken on, the place (`checkPlace`), and — unless a side prepared for this manifest is
 * still as it was proven — that the repository still holds the backup and every WAL segment up to
 * the point.
 */
export async function checkPitr(o: PitrRollbackOptions): Promise<PitrPlan> {
  const m = o.manifest;
  const earlier = await readState(o.pgdata);
  if (earlier && (earlier.phase === 'cutover' || earlier.phase === 'done')) {
    if (earlier.backupId === m.backupId) return { kind: earlier.phase, state: earlier };
    if (earlier.phase === 'cutover') {
      throw new SafetyError(
        `An earlier rollback to ${earlier.backupId} stopped in the middle of its cut-over (${earlier.pgdata}.pitr-rollback.json); run it again with that manifest first.`,
      );
    }
  }
  const place = await checkPlace({ ...o, database: m.database }, earlier);
  if (place.facts.systemId !== m.server.systemIdentifier) {
    throw new SafetyError(
      `The server is cluster ${place.facts.systemId ?? '(unknown: the role may not read pg_control)'}, but backup ${m.backupId} was taken on cluster ${m.server.systemIdentifier}.`,
    );
  }
  refuseOthers(
    [...new Set([...place.others, ...otherDatabases(m.databases, m.database)])],
    o.scope,
    m.restorePoint.createdAt,
  );
  if (o.sidePort === m.server.port)
    throw new SafetyError(`Input "side-port" ${o.sidePort} is the live cluster's port.`);
  const aside = o.asideDir ?? `${place.pgdata}.before-${m.backupId}`;
  if (await isEmptyOrMissing(aside).then((s) => s !== 'missing'))
    throw new SafetyError(
      `${aside} exists already; move it away first (the live directory is kept under that name).`,
    );
  let stale: string | undefined;
  if (earlier?.phase === 'prepared' && earlier.prepared && earlier.side === place.side) {
    if (earlier.backupId === m.backupId) {
      stale = await staleness(o, earlier.prepared, place.side);
      if (stale === undefined)
        return {
          kind: 'prepared',
          state: { ...earlier, pgdata: place.pgdata, aside, prepared: earlier.prepared },
        };
    } else {
      stale = `it holds ${earlier.backupId}'s point`;
    }
  }
  const repository = await checkRepositoryHolds(o.pgbr, m);
  const state: PitrState = {
    backupId: m.backupId,
    pgdata: place.pgdata,
    side: place.side,
    aside,
    phase: 'restore',
    updatedAt: new Date().toISOString(),
  };
  return { kind: 'fresh', state, delta: place.sideState === 'full', repository, stale };
}

/**
 * Restores the point into the side, starts it on the side port, proves it equals the manifest,
 * and stops it cleanly. The live cluster is not touched; on failure the side is left stopped.
 */
export async function preparePitr(
  o: PitrRollbackOptions,
  plan: Extract<PitrPlan, { kind: 'fresh' }>,
  note?: (phase: string, detail: string) => void,
): Promise<Proof> {
  const tools: ServerTools = { binDir: o.binDir, user: o.owner };
  await writeState(plan.state, o.owner);
  await stopServer(tools, plan.state.side);
  const t0 = Date.now();
  await restoreSide({
    pgbr: o.pgbr,
    manifest: o.manifest,
    sideDir: plan.state.side,
    delta: plan.delta,
    processMax: o.processMax,
  });
  note?.(
    'restore',
    `${plan.delta ? 'delta ' : ''}restore into ${plan.state.side}${o.processMax ? ` with process-max ${o.processMax}` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );
  try {
    const t1 = Date.now();
    await startSide(tools, plan.state.side, o.sidePort, o.connection, o.recoveryTimeoutMs);
    note?.(
      'recover',
      `replayed to ${o.manifest.restorePoint.name} and promoted in ${((Date.now() - t1) / 1000).toFixed(1)}s`,
    );
    const t2 = Date.now();
    const proof = await proveRestored({ ...o.connection, port: o.sidePort }, o.manifest);
    note?.('prove', `${proof.summary} in ${((Date.now() - t2) / 1000).toFixed(1)}s`);
    if (!proof.ok) {
      throw new SafetyError(
        `The restored side does not match backup ${o.manifest.backupId}: ${proof.problems.slice(0, 5).join('; ')}. The live cluster was not touched.`,
      );
    }
    return proof;
  } finally {
    const t3 = Date.now();
    if (await stopServer(tools, plan.state.side))
      note?.('stop', `side stopped in ${((Date.now() - t3) / 1000).toFixed(1)}s`);
  }
}

/** The cut-over, for a fresh run after `preparePitr` or for a run that resumes one. */
export function cutOverPitr(
  o: PitrRollbackOptions,
  state: PitrState,
  onStep?: (s: string) => void,
): Promise<CutoverResult> {
  return cutOver(state, {
    tools: { binDir: o.binDir, user: o.owner },
    connection: o.connection,
    systemIdentifier: o.manifest.server.systemIdentifier,
    stopCommand: o.stopCommand,
    startCommand: o.startCommand,
    hookTimeoutMs: o.hookTimeoutMs ?? 600_000,
    healthTimeoutMs: o.healthTimeoutMs,
    owner: o.owner,
    onStep,
  });
}

/**
 * After `preparePitr` (the side proven and stopped): the marker says `prepared`, with the proof and
 * the side's pg_control, so a rollback of the same manifest only cuts over.
 */
export async function markPrepared(
  o: PitrRollbackOptions,
  plan: Extract<PitrPlan, { kind: 'fresh' }>,
  proof: Proof,
  timings: string,
): Promise<PitrState> {
  const control = await controlData({ binDir: o.binDir, user: o.owner }, plan.state.side);
  if (!/shut down/.test(control.state))
    throw new Error(`The prepared side ${plan.state.side} was not stopped cleanly (${control.state}).`);
  const state: PitrState = {
    ...plan.state,
    phase: 'prepared',
    prepared: {
      at: new Date().toISOString(),
      manifestDigest: manifestDigest(o.manifest),
      proof: proof.summary,
      timings,
      control,
    },
  };
  await writeState(state, o.owner);
  return state;
}
