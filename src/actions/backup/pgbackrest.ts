import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { clause, errorMessage, SafetyError } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { PgBackRest, userFor, type OsUser } from '../../pgbackrest/command';
import { writeJsonFile } from '../../pgbackrest/files';
import type { PitrManifest } from '../../pgbackrest/manifest';
import {
  archivePoint,
  preparePoint,
  takeRecoveryPoint,
  type RecoveryPointOptions,
} from '../../pgbackrest/recovery-point';
import { withClient } from '../../postgres/client';
import { acquireLock, runHolder } from '../../postgres/lock';
import { code, strong, SummaryDoc } from '../../report/markdown';
import { annotate, setOutput, writeSummary, type Phase } from '../../report/summary';
import { addTimeline } from '../../report/timeline';

import { killGroup, spawnBackground, type BackgroundChild } from './background';
import { isAlive, logTail, readRecord, writeRecord, type BackgroundRecord } from './background-state';
import { ServiceHooks } from './hooks';
import type { Inputs } from './inputs';
import { buildBackupId } from './names';
import { Phases } from './phases';

/** As root, pgBackRest runs as the owner of the cluster's data directory (the server says where it is). */
export async function runAsOwner(inputs: Inputs): Promise<OsUser | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const dataDir = await withClient(inputs.connection, async (c) =>
    String((await c.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]?.d),
  );
  return userFor(dataDir);
}

/** The recovery point's options from the step's inputs. */
export function pointOptions(
  inputs: Inputs,
  pgbr: PgBackRest,
  id: string,
  phases?: Phases,
): RecoveryPointOptions {
  const o = inputs.pgbackrest;
  if (!o) throw new Error('engine pgbackrest without its inputs');
  return {
    connection: inputs.connection,
    pgbr,
    name: id,
    backupType: o.backupType,
    protectedTables: inputs.protectedTables,
    archiveTimeoutMs: Math.min(inputs.timeoutMs, 600_000),
    codeRef: inputs.codeRef,
    onPhase: (name, ms, detail) => {
      const label = name.charAt(0).toUpperCase() + name.slice(1).replace(/-/g, ' ');
      phases?.note(label, 'ok', detail, ms / 1000);
      core.info(`▶ ${name}: ${detail} (${(ms / 1000).toFixed(1)}s)`);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the background process has written the restore point (its record names the point),
 * failing with its log's last lines when it fails or dies first.
 */
async function waitForPoint(
  child: BackgroundChild,
  timeoutMs: number,
): Promise<NonNullable<BackgroundRecord['point']>> {
  await child.started();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await readRecord(child.stateFile);
    if (record?.point) return record.point;
    const dead = child.exited() !== undefined || (record && (record.status === 'failed' || !isAlive(record)));
    if (dead || Date.now() > deadline) {
      const tail = clause(scrub(await logTail(child.logFile, 5)).replace(/\n/g, ' | '));
      throw new SafetyError(
        `The restore point was not written: the background process ${record?.error ?? child.exited() ?? (dead ? 'ended' : `did not write it within ${Math.round(timeoutMs / 1000)} s`)}${tail ? `; its log: ${tail}` : ''}.`,
      );
    }
    await sleep(20);
  }
}

/** Where the step hands the preflight's result to the background process it started before it. */
export function basisFile(outputDir: string, id: string): string {
  return path.join(outputDir, `${id}.basis.json`);
}

interface BackgroundPoint {
  lsn: string;
  segment: string;
  pid: number;
  logFile: string;
}

/**
 * `evidence: background`: the background process is started first (its start overlaps the lock and
 * the preflight) and waits; the preflight runs here; the process is handed
 * the result, writes the restore point as the first statement of its snapshot, reads the sequences,
 * and from then on reads the evidence in that snapshot while this step switches WAL, waits for the
 * point's segment to be archived, and returns. The migration may start as soon as this step ends:
 * nothing it does can change what the snapshot shows, and the evidence gives way to any lock it
 * needs. With no backup first, `pgbackrest check` is not run: the point's own archive (the server's
 * archiver reports it, the repository lists it) proves the same, one WAL switch sooner.
 */
async function backgroundPoint(
  inputs: Inputs,
  pgbr: PgBackRest,
  id: string,
  phases: Phases,
  child: BackgroundChild,
): Promise<BackgroundPoint> {
  const opts = pointOptions(inputs, pgbr, id, phases);
  const basis = await preparePoint(opts);
  await writeJsonFile(basisFile(inputs.outputDir, id), { basis, phases: phases.list });
  const point = await phases.run(
    'Restore point',
    () => waitForPoint(child, inputs.lockWaitTimeoutMs + 60_000),
    (p) => `${id} at ${p.lsn} (${p.segment}); evidence read in the background, pid ${child.pid}`,
  );
  await phases.run(
    'Archived',
    () => archivePoint(opts, basis, point.segment),
    () => `${point.segment} in the repository`,
  );
  return { lsn: point.lsn, segment: point.segment, pid: child.pid, logFile: child.logFile };
}

/**
 * Stops a background process whose point failed. Before the restore point it has done nothing,
 * and its files go with it. After, it is stopped (it records its end on SIGTERM; killed if it has
 * not ended within 5 s) before this step ends, no manifest of it is left, and its record says
 * why: the step's failure, for the `wait-for` step that reads it.
 */
async function stopChild(child: BackgroundChild, outputDir: string, id: string, why: unknown): Promise<void> {
  const record = await readRecord(child.stateFile).catch(() => undefined);
  const ended = async (ms: number): Promise<boolean> => {
    for (let i = 0; i < ms / 20 && child.exited() === undefined; i++) await sleep(20);
    return child.exited() !== undefined;
  };
  if (!record?.point) {
    killGroup(child.pid, 'SIGKILL');
    await ended(2000);
    await Promise.all(
      [child.stateFile, child.logFile, basisFile(outputDir, id)].map((f) => rm(f, { force: true })),
    );
    return;
  }
  killGroup(child.pid, 'SIGTERM');
  if (!(await ended(5000))) {
    killGroup(child.pid, 'SIGKILL');
    await ended(2000);
  }
  const last = (await readRecord(child.stateFile).catch(() => undefined)) ?? record;
  await writeRecord(child.stateFile, {
    ...last,
    status: 'failed',
    outputs: last.outputs && { ...last.outputs, 'manifest-path': '', status: 'failed' },
    pitr: undefined,
    error: `it was stopped because the recovery point step that started it failed: ${clause(scrub(errorMessage(why)))}`,
    finished: last.finished ?? new Date().toISOString(),
  });
  // A manifest it wrote before the signal reached it describes a point this step did not prove.
  const manifest = path.join(outputDir, `${id}.manifest.json`);
  await Promise.all(
    [`${child.stateFile}.partial`, manifest, `${manifest}.partial`].map((f) => rm(f, { force: true })),
  );
}

/** What a pgBackRest recovery point's summary reports. */
export interface PitrReport {
  id: string;
  database: string;
  manifest?: PitrManifest;
  manifestPath?: string;
  /** `evidence: background` before the evidence is read: the point, archived, and the process reading it. */
  running?: BackgroundPoint;
  phases: Phase[];
  services: string;
  seconds: number;
  failure?: unknown;
  /** The background process's last log lines (the wait-for step). */
  logTail?: string;
}

/** The summary of a recovery point (taken now, started in the background, or waited for). */
export async function writePitrSummary(r: PitrReport): Promise<void> {
  const m = r.manifest;
  const seconds = r.seconds.toFixed(1);
  const gaps = m?.evidenceGaps ?? [];
  let lead: string;
  if (r.failure !== undefined || (!m && !r.running))
    lead = `❌ Recovery point ${r.id} of ${r.database} failed: ${r.failure === undefined ? 'no manifest' : errorMessage(r.failure)}`;
  else if (r.running)
    lead = `✅ Recovery point ${r.id} of ${r.database}: restore point archived in ${seconds} s; its evidence is being read in the background (verify with wait-for)`;
  else if (m && gaps.length > 0)
    lead = `⚠️ Recovery point ${r.id} of ${r.database}: restore point archived; no evidence of ${gaps.map((g) => g.table).join(', ')} (changed before it was read)`;
  else
    lead = `✅ Recovery point ${r.id} of ${r.database}: restore point ${m?.restorePoint.name ?? r.id} archived in stanza ${m?.pgbackrest.stanza ?? ''}${r.running ? '' : `, evidence complete, in ${seconds} s`}`;
  const doc = new SummaryDoc().heading(lead, 2);
  if (m) {
    doc.list([
      [
        'Restore point: ',
        code(m.restorePoint.name),
        ` at ${m.restorePoint.lsn}, timeline ${m.restorePoint.timeline}, WAL ${m.restorePoint.segment} archived`,
      ],
      `Builds on backup ${m.pgbackrest.backupLabel} (${m.pgbackrest.backupType}) in stanza ${m.pgbackrest.stanza}`,
      `Cluster ${m.server.systemIdentifier}, databases: ${m.databases.join(', ')}`,
      `Evidence: ${m.fingerprints.length} protected table${m.fingerprints.length === 1 ? '' : 's'} fingerprinted, ${Object.keys(m.rowCounts).length} tables counted`,
      ['Manifest: ', code(r.manifestPath ?? '')],
      `Services: ${r.services}`,
    ]);
    if (gaps.length > 0) {
      doc.paragraph(
        strong('Evidence not read: '),
        gaps.map((g) => `${g.table}: ${g.reason}`).join('; '),
        '. A rollback restores these tables with the rest of the cluster but cannot prove them; the validation cannot check them unchanged.',
      );
    }
    if (r.failure === undefined)
      doc.paragraph(
        strong('Roll back to this point: '),
        'action-rollback with ',
        code('strategy: pitr'),
        ' and manifest ',
        code(r.manifestPath ?? ''),
        '.',
      );
  } else if (r.running) {
    doc.list([
      ['Restore point: ', code(r.id), ` at ${r.running.lsn}, WAL ${r.running.segment} archived`],
      [
        "Evidence: read in the point's snapshot by a background process (pid ",
        String(r.running.pid),
        '), log ',
        code(r.running.logFile),
      ],
      `Services: ${r.services}`,
    ]);
  }
  if (r.logTail) doc.details('Background log (last lines)', (d) => d.codeBlock(r.logTail ?? ''));
  addTimeline(doc, r.phases, 'Recovery point');
  await writeSummary(doc);
  if (r.failure === undefined && (m || r.running))
    annotate(gaps.length > 0 ? 'warning' : 'notice', 'Recovery point taken', lead);
}

/**
 * `engine: pgbackrest`: the recovery point is a named restore point on a cluster that archives WAL
 * to pgBackRest, with its WAL in the repository and the evidence taken at it; nothing is copied.
 * With `evidence: background` the step returns once the point is archived (status `running`) and a
 * later `wait-for` step waits for the evidence and the manifest. Commands that touch the cluster run
 * as this process, or (as root) as the data directory's owner.
 */
export async function pgbackrestStep(inputs: Inputs): Promise<void> {
  const started = Date.now();
  const phases = new Phases();
  const hooks = new ServiceHooks(inputs.stopCommand, inputs.startCommand, inputs.hookTimeoutMs);
  const id = buildBackupId(inputs.connection.database, new Date());
  const manifestPath = path.join(inputs.outputDir, `${id}.manifest.json`);
  let manifest: PitrManifest | undefined;
  let running: BackgroundPoint | undefined;
  let child: BackgroundChild | undefined;
  let failure: unknown;
  try {
    const o = inputs.pgbackrest;
    if (!o) throw new Error('engine pgbackrest without its inputs');
    if (o.evidence === 'background') {
      await mkdir(inputs.outputDir, { recursive: true, mode: 0o700 });
      child = spawnBackground(inputs, {
        id,
        startedAt: new Date(started).toISOString(),
        phases: [],
        pitrBasisFile: basisFile(inputs.outputDir, id),
      });
    }
    const pgbr = new PgBackRest({ stanza: o.stanza, config: o.config, user: await runAsOwner(inputs) });
    const lock = await phases.run(
      'Lock',
      () => acquireLock(inputs.connection, { holder: runHolder('backup') }),
      (l) => l.holder,
    );
    if (inputs.stopCommand || inputs.startCommand)
      await phases.run(
        'Stop services',
        () => hooks.stop(),
        () => hooks.state,
      );
    if (child) {
      running = await backgroundPoint(inputs, pgbr, id, phases, child);
    } else {
      manifest = await takeRecoveryPoint(pointOptions(inputs, pgbr, id, phases));
      await mkdir(inputs.outputDir, { recursive: true, mode: 0o700 });
      await writeJsonFile(manifestPath, manifest);
    }
    await lock.release();
  } catch (error) {
    failure = error;
    running = undefined;
    // The point is not safe (or was never written): its evidence must not become a manifest.
    if (child) await stopChild(child, inputs.outputDir, id, error);
  }
  try {
    await hooks.start();
  } catch (error) {
    failure ??= error;
  }
  const ok = failure === undefined && (manifest !== undefined || running !== undefined);
  setOutput('backup-id', ok ? id : '');
  setOutput('manifest-path', ok && manifest ? manifestPath : '');
  setOutput('pending-manifest-path', ok && running ? manifestPath : '');
  setOutput('backup-uri', '');
  setOutput('manifest-uri', '');
  setOutput('snapshot-database', '');
  setOutput('duration-seconds', ((Date.now() - started) / 1000).toFixed(1));
  setOutput('status', !ok ? 'failed' : running ? 'running' : 'verified');
  if (ok && manifest)
    core.info(
      `Recovery point ${id}: restore point at ${manifest.restorePoint.lsn} (timeline ${manifest.restorePoint.timeline}) archived in stanza ${manifest.pgbackrest.stanza}, on backup ${manifest.pgbackrest.backupLabel}; manifest ${manifestPath}.`,
    );
  if (ok && running)
    core.info(
      `Recovery point ${id}: restore point at ${running.lsn} archived (${running.segment}); the evidence is read in the background (pid ${running.pid}, log ${running.logFile}). Verify it with wait-for: ${id}.`,
    );
  await writePitrSummary({
    id,
    database: inputs.connection.database,
    manifest,
    manifestPath,
    running,
    phases: phases.list,
    services: hooks.state,
    seconds: (Date.now() - started) / 1000,
    failure,
  });
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}
