import { SafetyError } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';

import type { PgBackRest } from './command';
import { pointWithEvidence, type PointEvidence } from './evidence';
import { latestBackup, type RepoBackup } from './info';
import { PITR_MANIFEST_FORMAT, type PitrManifest } from './manifest';
import { pgbackrestCheck, preflight } from './preflight';
import { segmentPresent } from './repository';
import { segmentAtOrAfter } from './wal';

export type BackupType = 'none' | 'incr' | 'diff' | 'full';

export interface RecoveryPointOptions {
  connection: ConnectionSettings;
  pgbr: PgBackRest;
  /** The restore point's name (the backup id: unique per run). */
  name: string;
  backupType: BackupType;
  protectedTables: string[];
  /** How long to wait for the point's WAL segment to reach the repository. */
  archiveTimeoutMs: number;
  codeRef?: string;
  /** Called when a phase ends (name, milliseconds). */
  onPhase?: (phase: string, ms: number, detail: string) => void;
}

/**
 * Waits until the server has archived `segment` (pg_stat_archiver), failing at once when an attempt
 * after it fails, then confirms the repository holds it.
 */
export async function waitArchived(
  opts: Pick<RecoveryPointOptions, 'connection' | 'pgbr' | 'archiveTimeoutMs'>,
  segment: string,
  segmentBytes: number,
  archiveId: string,
): Promise<void> {
  const deadline = Date.now() + opts.archiveTimeoutMs;
  const started = new Date();
  // One session, polled every 25 ms: the archiver's own run (archive-push) is most of the wait.
  await withClient(opts.connection, async (c) => {
    for (;;) {
      const f = (
        await c.query<{ aw: string | null; fw: string | null; ft: Date | null }>(
          'SELECT last_archived_wal AS aw, last_failed_wal AS fw, last_failed_time AS ft FROM pg_stat_archiver',
        )
      ).rows[0];
      if (f?.aw && segmentAtOrAfter(f.aw, segment, segmentBytes)) return;
      if (f?.ft && f.ft >= started) {
        throw new SafetyError(
          `Archiving WAL segment ${segment} failed (${f.fw ?? '?'} at ${f.ft.toISOString()}); the restore point cannot be trusted until its WAL is in the repository. See the server log.`,
        );
      }
      if (Date.now() > deadline) {
        throw new SafetyError(
          `WAL segment ${segment} was not archived within ${Math.round(opts.archiveTimeoutMs / 1000)}s (last archived: ${f?.aw ?? 'none'}; no attempt failed: archive_command hangs or is slower than that); the restore point cannot be trusted until its WAL is in the repository. See the server log.`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  if (!(await segmentPresent(opts.pgbr, archiveId, segment))) {
    throw new SafetyError(
      `The server reports WAL segment ${segment} archived, but stanza "${opts.pgbr.options.stanza}" does not hold it (archive ${archiveId}).`,
    );
  }
}

/**
 * What the point builds on, from the preflight and the optional backup: everything the manifest
 * says besides the point and its evidence. Plain data, so a background process can be handed it.
 */
export interface PointBasis {
  pgbackrestVersion: string;
  serverVersion: string;
  major: number;
  systemIdentifier: string;
  walSegmentBytes: number;
  databases: string[];
  backupLabel: string;
  backupType: string;
  backupTaken?: string;
  archiveId: string;
  /** `pgbackrest check` was left to run beside the point (no backup came first). */
  checkLater: boolean;
}

type PhaseRunner = <T>(name: string, fn: () => Promise<T>, detail: (t: T) => string) => Promise<T>;

function phaseRunner(timings: Record<string, number>, onPhase: RecoveryPointOptions['onPhase']): PhaseRunner {
  return async (name, fn, detail) => {
    const t0 = Date.now();
    const out = await fn();
    timings[name] = (Date.now() - t0) / 1000;
    onPhase?.(name, Date.now() - t0, detail(out));
    return out;
  };
}

/**
 * The preflight and an optional backup (always `--start-fast`: without it a backup waits for the
 * next scheduled checkpoint). With no backup first, `pgbackrest check` (a WAL switch and a wait for
 * its archive, seconds) is left to run beside the restore point: a failed check still fails the
 * run, and a restore point alone is one WAL record that changes nothing.
 */
export async function preparePoint(
  opts: RecoveryPointOptions,
  timings: Record<string, number> = {},
): Promise<PointBasis> {
  const phase = phaseRunner(timings, opts.onPhase);
  const checkLater = opts.backupType === 'none';
  const pre = await phase(
    'preflight',
    () => preflight(opts.connection, opts.pgbr, { check: !checkLater }),
    (p) =>
      `pgBackRest ${p.version}, stanza ${opts.pgbr.options.stanza}, latest backup ${p.latest.label} (${p.latest.type})`,
  );
  let base: RepoBackup = pre.latest;
  let taken: string | undefined;
  if (opts.backupType !== 'none') {
    base = await phase(
      'backup',
      async () => {
        await opts.pgbr.must(`pgbackrest backup --type=${opts.backupType}`, 'backup', [
          `--type=${opts.backupType}`,
          '--start-fast',
        ]);
        const b = latestBackup(await opts.pgbr.info());
        if (!b || b.label === pre.latest.label)
          throw new Error('pgbackrest backup ended, but info lists no new backup.');
        return b;
      },
      (b) => `${b.label} (${b.type})`,
    );
    taken = base.label;
  }
  const archive = pre.info.archives[0];
  if (!archive) throw new SafetyError(`Stanza "${opts.pgbr.options.stanza}" has no WAL archive yet.`);
  const server = await withClient(opts.connection, (c) =>
    c.query<{ v: string }>("SELECT current_setting('server_version') AS v"),
  );
  return {
    pgbackrestVersion: pre.version,
    serverVersion: server.rows[0]?.v ?? '',
    major: pre.facts.major,
    systemIdentifier: pre.facts.systemId ?? pre.info.systemId ?? '',
    walSegmentBytes: pre.facts.walSegmentBytes,
    databases: pre.facts.databases,
    backupLabel: base.label,
    backupType: base.type,
    backupTaken: taken,
    archiveId: archive.id,
    checkLater,
  };
}

/** Switches WAL and waits until the segment holding the point is in the repository. */
export async function archivePoint(
  opts: Pick<RecoveryPointOptions, 'connection' | 'pgbr' | 'archiveTimeoutMs'>,
  basis: PointBasis,
  segment: string,
): Promise<void> {
  await withClient(opts.connection, (c) => c.query('SELECT pg_switch_wal()'));
  await waitArchived(opts, segment, basis.walSegmentBytes, basis.archiveId);
}

/** The format-2 manifest of a point and its evidence. */
export function pointManifest(
  opts: Pick<RecoveryPointOptions, 'connection' | 'pgbr' | 'name' | 'codeRef'>,
  basis: PointBasis,
  ev: PointEvidence,
  startedAt: Date,
  timings: Record<string, number>,
): PitrManifest {
  return {
    format: PITR_MANIFEST_FORMAT,
    engine: 'pgbackrest',
    backupId: opts.name,
    database: opts.connection.database,
    server: {
      version: basis.serverVersion,
      major: basis.major,
      host: opts.connection.host,
      port: opts.connection.port,
      systemIdentifier: basis.systemIdentifier,
    },
    pgbackrest: {
      stanza: opts.pgbr.options.stanza,
      config: opts.pgbr.options.config,
      version: basis.pgbackrestVersion,
      backupLabel: basis.backupLabel,
      backupType: basis.backupType,
      backupTaken: basis.backupTaken,
      archiveId: basis.archiveId,
      walSegmentBytes: basis.walSegmentBytes,
    },
    restorePoint: {
      name: opts.name,
      lsn: ev.lsn,
      timeline: parseInt(ev.segment.slice(0, 8), 16),
      segment: ev.segment,
      createdAt: ev.createdAt.toISOString(),
    },
    databases: basis.databases,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    rowCounts: ev.rowCounts,
    fingerprints: ev.fingerprints,
    ...(ev.gaps.length > 0 ? { evidenceGaps: ev.gaps } : {}),
    codeRef: opts.codeRef,
    timings,
  };
}

/**
 * Takes a recovery point on a cluster archiving to pgBackRest, all in the closed window:
 * preflight, an optional backup, a named restore point with row counts and fingerprints taken at
 * it, a WAL switch, and a wait until the segment holding the point is in the repository. Returns
 * the manifest (not yet written).
 */
export async function takeRecoveryPoint(opts: RecoveryPointOptions): Promise<PitrManifest> {
  const startedAt = new Date();
  const timings: Record<string, number> = {};
  const phase = phaseRunner(timings, opts.onPhase);
  const basis = await preparePoint(opts, timings);
  const ev = await phase(
    'restore-point',
    async () => {
      const [point] = await Promise.all([
        pointWithEvidence({
          connection: opts.connection,
          name: opts.name,
          protectedTables: opts.protectedTables,
          concurrent: false,
        }),
        basis.checkLater ? pgbackrestCheck(opts.pgbr) : undefined,
      ]);
      return point;
    },
    (e) => `${opts.name} at ${e.lsn} (${e.segment})`,
  );
  await phase(
    'archived',
    () => archivePoint(opts, basis, ev.segment),
    () => `${ev.segment} in the repository`,
  );
  return pointManifest(opts, basis, ev, startedAt, timings);
}
