import { readFile } from 'node:fs/promises';

import { SafetyError } from '../common/errors';

import type { TableFingerprint } from './types';

export const PITR_MANIFEST_FORMAT = 2;

/**
 * The evidence of a pgBackRest recovery point (`engine: pgbackrest`): a named restore point whose
 * WAL is archived, on top of a backup the repository holds. Nothing is copied; the rollback
 * restores the cluster to the name.
 */
export interface PitrManifest {
  format: typeof PITR_MANIFEST_FORMAT;
  engine: 'pgbackrest';
  backupId: string;
  database: string;
  server: { version: string; major: number; host: string; port: number; systemIdentifier: string };
  pgbackrest: {
    stanza: string;
    /** The config file given to the backup, if any (the rollback may use another path). */
    config?: string;
    version: string;
    /** The backup the point builds on (restore --set). */
    backupLabel: string;
    backupType: string;
    /** A backup this run took first (pgbackrest-backup-type), if any. */
    backupTaken?: string;
    archiveId: string;
    walSegmentBytes: number;
  };
  restorePoint: {
    name: string;
    lsn: string;
    timeline: number;
    /** The WAL segment that holds the point; archived before the manifest was written. */
    segment: string;
    createdAt: string;
  };
  /** Every database of the cluster at the point: a physical restore takes them all back. */
  databases: string[];
  startedAt: string;
  finishedAt: string;
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
  /**
   * Tables whose evidence could not be read at the point (`evidence: background` only): another
   * session rewrote, dropped or altered them first. Absent when every table was read.
   */
  evidenceGaps?: { table: string; reason: string }[];
  codeRef?: string;
  timings: Record<string, number>;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;
const SEGMENT = /^[0-9A-F]{24}$/;

/** Checks the shape of a format-2 manifest; a file that is not one is refused with its source. */
export function parsePitrManifest(data: unknown, source: string): PitrManifest {
  const m = (data && typeof data === 'object' ? data : {}) as Partial<PitrManifest>;
  const problems: string[] = [];
  if (m.format !== PITR_MANIFEST_FORMAT) problems.push(`format is ${String(m.format)}, expected 2`);
  if (m.engine !== 'pgbackrest') problems.push(`engine is ${String(m.engine)}, expected pgbackrest`);
  if (typeof m.backupId !== 'string' || !NAME.test(m.backupId))
    problems.push('backupId is missing or invalid');
  if (typeof m.database !== 'string' || !m.database) problems.push('database is missing');
  if (!m.server || !/^\d+$/.test(String(m.server.systemIdentifier)))
    problems.push('server.systemIdentifier is missing');
  const p = m.pgbackrest;
  if (!p || typeof p.stanza !== 'string' || !NAME.test(p.stanza))
    problems.push('pgbackrest.stanza is missing or invalid');
  if (!p || typeof p.backupLabel !== 'string' || !/^\d{8}-\d{6}[FDI](_\d{8}-\d{6}[DI])?$/.test(p.backupLabel))
    problems.push('pgbackrest.backupLabel is missing or invalid');
  if (!p || !Number.isInteger(p.walSegmentBytes) || p.walSegmentBytes <= 0)
    problems.push('pgbackrest.walSegmentBytes is missing');
  const rp = m.restorePoint;
  if (!rp || typeof rp.name !== 'string' || !NAME.test(rp.name))
    problems.push('restorePoint.name is missing or invalid');
  if (!rp || typeof rp.segment !== 'string' || !SEGMENT.test(rp.segment))
    problems.push('restorePoint.segment is missing or invalid');
  if (!rp || !Number.isInteger(rp.timeline) || rp.timeline < 1)
    problems.push('restorePoint.timeline is missing');
  if (!Array.isArray(m.databases)) problems.push('databases are missing');
  if (!Array.isArray(m.fingerprints)) problems.push('fingerprints are missing');
  if (!m.rowCounts || typeof m.rowCounts !== 'object') problems.push('rowCounts are missing');
  if (problems.length > 0)
    throw new SafetyError(`${source} is not a valid pgBackRest backup manifest: ${problems.join('; ')}.`);
  return m as PitrManifest;
}

/** True for a manifest object written by the pgBackRest engine (format 2, engine pgbackrest). */
export function isPitrManifest(data: unknown): boolean {
  const m = data as { format?: unknown; engine?: unknown } | null;
  return !!m && typeof m === 'object' && m.format === PITR_MANIFEST_FORMAT && m.engine === 'pgbackrest';
}

/**
 * Reads a format-2 manifest file: not JSON, or a manifest of another engine (a dump's), is refused
 * naming the file.
 */
export async function readPitrManifestFile(file: string): Promise<PitrManifest> {
  const text = await readFile(file, 'utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new SafetyError(`Manifest ${file} is not a backup manifest (not valid JSON).`);
  }
  if (!isPitrManifest(data))
    throw new SafetyError(
      `Manifest ${file} was not written by engine pgbackrest: only a pgBackRest recovery point's manifest applies here (strategy pitr; use swap or snapshot for a dump).`,
    );
  return parsePitrManifest(data, `Manifest ${file}`);
}
