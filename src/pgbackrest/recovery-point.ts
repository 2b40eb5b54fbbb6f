import { SafetyError } from '../common/errors';
import { normalizeTableName, USER_SCHEMA, withClient, type Client } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { countRows, fingerprintTables, listTables, type TableFingerprint } from '../postgres/fingerprint';

import { clusterFacts } from './cluster';
import type { PgBackRest } from './command';
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

interface PointEvidence {
  lsn: string;
  segment: string;
  createdAt: Date;
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
}

/**
 * The restore point and the evidence in one snapshot: the point is written by the snapshot's first
 * statement, the snapshot is exported, and two sessions that share it fingerprint the protected
 * tables (their row counts come with the fingerprints) and count every other table, largest first.
 * Nothing writes meanwhile (maintenance is on); if something did, the rollback's proof against
 * these numbers fails rather than restoring something unproven.
 */
async function pointWithEvidence(
  connection: ConnectionSettings,
  name: string,
  tables: string[],
): Promise<PointEvidence> {
  const options = { stableOutput: true, applicationName: 'migration-guard backup' };
  return withClient(
    connection,
    async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const r = await client.query<{ lsn: string; seg: string; at: Date }>(
          'SELECT p::text AS lsn, pg_walfile_name(p) AS seg, clock_timestamp() AS at FROM pg_create_restore_point($1) AS p',
          [name],
        );
        const row = r.rows[0];
        if (!row) throw new Error('pg_create_restore_point returned nothing.');
        const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]
          ?.id;
        const protectedSet = new Set(tables.map(normalizeTableName));
        const sizes = await client.query<{ name: string; bytes: string }>(
          `SELECT n.nspname || '.' || c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA} AND NOT c.relispartition`,
        );
        const size = new Map(sizes.rows.map((x) => [x.name, Number(x.bytes)]));
        const all = await listTables(client);
        const work = [
          ...tables.map((t) => ({ table: t, fingerprint: true })),
          ...all.filter((t) => !protectedSet.has(t)).map((t) => ({ table: t, fingerprint: false })),
        ].sort(
          (a, b) =>
            (size.get(normalizeTableName(b.table)) ?? 0) - (size.get(normalizeTableName(a.table)) ?? 0),
        );
        const fingerprints = new Map<string, TableFingerprint>();
        const rowCounts: Record<string, number> = {};
        const worker = async (c: Client): Promise<void> => {
          for (let item = work.shift(); item; item = work.shift()) {
            if (item.fingerprint) {
              const [f] = await fingerprintTables(c, [item.table]);
              if (f) fingerprints.set(item.table, f);
            } else {
              Object.assign(rowCounts, await countRows(c, [item.table]));
            }
          }
        };
        const second = withClient(
          connection,
          async (c) => {
            await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
            await c.query(`SET TRANSACTION SNAPSHOT '${String(snapshot).replace(/'/g, "''")}'`);
            try {
              await worker(c);
            } finally {
              await c.query('COMMIT').catch(() => undefined);
            }
          },
          options,
        );
        await Promise.all([worker(client), second]);
        const ordered = tables.map((t) => fingerprints.get(t)).filter((f): f is TableFingerprint => !!f);
        for (const f of ordered) rowCounts[f.table] = f.rows;
        const sortedCounts = Object.fromEntries(
          Object.entries(rowCounts).sort(([a], [b]) => a.localeCompare(b)),
        );
        return {
          lsn: row.lsn,
          segment: row.seg,
          createdAt: row.at,
          rowCounts: sortedCounts,
          fingerprints: ordered,
        };
      } finally {
        await client.query('COMMIT').catch(() => undefined);
      }
    },
    options,
  );
}

/**
 * Waits until the server has archived `segment` (pg_stat_archiver), failing at once when an attempt
 * after it fails, then confirms the repository holds it.
 */
async function waitArchived(
  opts: RecoveryPointOptions,
  segment: string,
  segmentBytes: number,
  archiveId: string,
): Promise<void> {
  const deadline = Date.now() + opts.archiveTimeoutMs;
  const started = new Date();
  for (;;) {
    const f = await withClient(opts.connection, clusterFacts);
    if (f.lastArchivedWal && segmentAtOrAfter(f.lastArchivedWal, segment, segmentBytes)) break;
    if (f.lastFailedAt && f.lastFailedAt >= started) {
      throw new SafetyError(
        `Archiving WAL segment ${segment} failed (${f.lastFailedWal ?? '?'} at ${f.lastFailedAt.toISOString()}); the restore point cannot be trusted until its WAL is in the repository. See the server log.`,
      );
    }
    if (Date.now() > deadline) {
      throw new SafetyError(
        `WAL segment ${segment} was not archived within ${Math.round(opts.archiveTimeoutMs / 1000)}s (last archived: ${f.lastArchivedWal ?? 'none'}).`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await segmentPresent(opts.pgbr, archiveId, segment))) {
    throw new SafetyError(
      `The server reports WAL segment ${segment} archived, but stanza "${opts.pgbr.options.stanza}" does not hold it (archive ${archiveId}).`,
    );
  }
}

/**
 * Takes a recovery point on a cluster archiving to pgBackRest: preflight, an optional backup
 * (always `--start-fast`: without it a backup waits for the next scheduled checkpoint), a named
 * restore point with row counts and fingerprints taken at it, a WAL switch, and a wait until the
 * segment holding the point is in the repository. Returns the manifest (not yet written).
 */
export async function takeRecoveryPoint(opts: RecoveryPointOptions): Promise<PitrManifest> {
  const startedAt = new Date();
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>, detail: (t: T) => string): Promise<T> => {
    const t0 = Date.now();
    const out = await fn();
    timings[name] = (Date.now() - t0) / 1000;
    opts.onPhase?.(name, Date.now() - t0, detail(out));
    return out;
  };
  // With no backup first, pgbackrest check (a WAL switch and a wait for its archive, seconds) runs
  // beside the restore point and the evidence; a failed check still fails the run, and a restore
  // point alone is one WAL record that changes nothing.
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
  const ev = await phase(
    'restore-point',
    async () => {
      const [point] = await Promise.all([
        pointWithEvidence(opts.connection, opts.name, opts.protectedTables),
        checkLater ? pgbackrestCheck(opts.pgbr) : undefined,
      ]);
      return point;
    },
    (e) => `${opts.name} at ${e.lsn} (${e.segment})`,
  );
  await phase(
    'archived',
    async () => {
      await withClient(opts.connection, (c) => c.query('SELECT pg_switch_wal()'));
      await waitArchived(opts, ev.segment, pre.facts.walSegmentBytes, archive.id);
    },
    () => `${ev.segment} in the repository`,
  );
  const server = await withClient(opts.connection, (c) =>
    c.query<{ v: string }>("SELECT current_setting('server_version') AS v"),
  );
  return {
    format: PITR_MANIFEST_FORMAT,
    engine: 'pgbackrest',
    backupId: opts.name,
    database: opts.connection.database,
    server: {
      version: server.rows[0]?.v ?? '',
      major: pre.facts.major,
      host: opts.connection.host,
      port: opts.connection.port,
      systemIdentifier: pre.facts.systemId ?? pre.info.systemId ?? '',
    },
    pgbackrest: {
      stanza: opts.pgbr.options.stanza,
      config: opts.pgbr.options.config,
      version: pre.version,
      backupLabel: base.label,
      backupType: base.type,
      backupTaken: taken,
      archiveId: archive.id,
      walSegmentBytes: pre.facts.walSegmentBytes,
    },
    restorePoint: {
      name: opts.name,
      lsn: ev.lsn,
      timeline: parseInt(ev.segment.slice(0, 8), 16),
      segment: ev.segment,
      createdAt: ev.createdAt.toISOString(),
    },
    databases: pre.facts.databases,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    rowCounts: ev.rowCounts,
    fingerprints: ev.fingerprints,
    codeRef: opts.codeRef,
    timings,
  };
}
