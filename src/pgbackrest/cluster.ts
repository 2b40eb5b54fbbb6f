import { systemIdentifier, type Client } from '../postgres/client';

/** What the server says about itself and its archiving, read in one query. */
export interface ClusterFacts {
  major: number;
  systemId?: string;
  dataDirectory?: string;
  inRecovery: boolean;
  walSegmentBytes: number;
  archiveMode: string;
  archiveCommand: string;
  /** From pg_stat_archiver. */
  lastArchivedWal?: string;
  lastArchivedAt?: Date;
  lastFailedWal?: string;
  lastFailedAt?: Date;
  failedCount: number;
  /** Every database that accepts connections, templates left out. */
  databases: string[];
}

/** Reads the cluster's facts (data_directory needs superuser or pg_read_all_settings). */
export async function clusterFacts(client: Client): Promise<ClusterFacts> {
  const r = await client.query<{
    num: string;
    dir: string | null;
    rec: boolean;
    seg: string;
    mode: string;
    cmd: string;
    aw: string | null;
    at: Date | null;
    fw: string | null;
    ft: Date | null;
    fc: string;
  }>(
    `SELECT current_setting('server_version_num') AS num,
            current_setting('data_directory', true) AS dir,
            pg_is_in_recovery() AS rec,
            current_setting('wal_segment_size') AS seg,
            current_setting('archive_mode') AS mode,
            current_setting('archive_command') AS cmd,
            a.last_archived_wal AS aw, a.last_archived_time AS at,
            a.last_failed_wal AS fw, a.last_failed_time AS ft, a.failed_count::text AS fc
       FROM pg_stat_archiver a`,
  );
  const row = r.rows[0];
  if (!row) throw new Error('The server returned no archiver statistics.');
  const dbs = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1',
  );
  return {
    major: Math.floor(Number(row.num) / 10000),
    systemId: await systemIdentifier(client),
    dataDirectory: row.dir ?? undefined,
    inRecovery: row.rec,
    walSegmentBytes: parseSize(row.seg),
    archiveMode: row.mode,
    archiveCommand: row.cmd,
    lastArchivedWal: row.aw ?? undefined,
    lastArchivedAt: row.at ?? undefined,
    lastFailedWal: row.fw ?? undefined,
    lastFailedAt: row.ft ?? undefined,
    failedCount: Number(row.fc),
    databases: dbs.rows.map((d) => d.datname),
  };
}

/** `16MB` → 16777216 (wal_segment_size as SHOW prints it). */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(text.trim());
  if (!m) throw new Error(`Unexpected wal_segment_size: ${text}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] ?? 'B'] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * Why archiving is not healthy, in words a person can act on; empty when it looks healthy. The
 * last archive attempt failing after the last success means WAL is piling up unarchived now.
 */
export function archivingProblems(facts: ClusterFacts, stanza: string): string[] {
  const problems: string[] = [];
  if (facts.inRecovery) problems.push('the server is a standby (in recovery); run against the primary');
  if (facts.archiveMode !== 'on' && facts.archiveMode !== 'always')
    problems.push(`archive_mode is ${facts.archiveMode} (it must be on, which needs a restart)`);
  if (!/\barchive-push\b/.test(facts.archiveCommand)) {
    problems.push(
      `archive_command is ${JSON.stringify(facts.archiveCommand)}, not pgBackRest's (pgbackrest --stanza=${stanza} archive-push %p)`,
    );
  } else if (!facts.archiveCommand.includes(stanza)) {
    problems.push(`archive_command ${JSON.stringify(facts.archiveCommand)} does not name stanza "${stanza}"`);
  }
  if (
    facts.lastFailedAt &&
    (!facts.lastArchivedAt || facts.lastFailedAt.getTime() >= facts.lastArchivedAt.getTime())
  ) {
    problems.push(
      `the last archive attempt failed (${facts.lastFailedWal ?? '?'} at ${facts.lastFailedAt.toISOString()}, ${facts.failedCount} failure(s) since the statistics were reset); see the server log`,
    );
  }
  return problems;
}

/** Databases that a physical restore would also roll back: all but `keep` and `postgres`. */
export function otherDatabases(databases: readonly string[], keep: string): string[] {
  return databases.filter((d) => d !== keep && d !== 'postgres');
}
