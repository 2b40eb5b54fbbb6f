import { readFile } from 'node:fs/promises';

import { SafetyError } from '../common/errors';

import { checkManifest, parseManifestJson } from './io';
import { PITR_MANIFEST_FORMAT, parsePitrManifest } from './pitr';
import { MANIFEST_FORMAT, type TableFingerprint } from './types';

/**
 * What a backup proves about the data, whatever the engine: the part of a manifest that validate's
 * checks compare the database with. A pg_dump manifest (format 1) and a pgBackRest one (format 2)
 * both carry it; the dump file or the restore point stay with the readers that need them.
 */
export interface BackupEvidence {
  format: typeof MANIFEST_FORMAT | typeof PITR_MANIFEST_FORMAT;
  engine: 'pg-dump' | 'pgbackrest';
  backupId: string;
  database: string;
  rowCounts: Record<string, number>;
  /** Each with the sequences the table owns when the backup recorded them. */
  fingerprints: TableFingerprint[];
  /** Tables the backup could not read at its point (format 2, background evidence), and why. */
  evidenceGaps?: { table: string; reason: string }[];
}

function fingerprintProblems(fingerprints: readonly unknown[]): string[] {
  const bad = fingerprints.filter((f) => {
    const x = (f ?? {}) as Partial<TableFingerprint>;
    return (
      typeof x.table !== 'string' ||
      !Number.isInteger(x.rows) ||
      typeof x.hash !== 'string' ||
      (x.sequences !== undefined && !Array.isArray(x.sequences))
    );
  });
  return bad.length ? [`${bad.length} of the fingerprints lack table, rows or hash`] : [];
}

/**
 * Checks the evidence of a manifest of either format; any other format, or a file of a known
 * format that is incomplete, is refused naming the source and the problem.
 */
export function parseEvidence(text: string, source: string): BackupEvidence {
  const data = parseManifestJson(text, source);
  const format = (data && typeof data === 'object' ? data : {}) as { format?: unknown };
  let evidence: BackupEvidence;
  if (format.format === MANIFEST_FORMAT) {
    const m = checkManifest(data, source);
    evidence = { ...pick(m), format: MANIFEST_FORMAT, engine: 'pg-dump' };
  } else if (format.format === PITR_MANIFEST_FORMAT) {
    const m = parsePitrManifest(data, source);
    evidence = { ...pick(m), format: PITR_MANIFEST_FORMAT, engine: 'pgbackrest' };
    if (Array.isArray(m.evidenceGaps) && m.evidenceGaps.length > 0) evidence.evidenceGaps = m.evidenceGaps;
  } else {
    throw new SafetyError(
      `${source} is not a backup manifest this version reads: format is ${JSON.stringify(format.format) ?? 'missing'}, expected 1 (engine pg-dump) or 2 (engine pgbackrest).`,
    );
  }
  const problems = fingerprintProblems(evidence.fingerprints);
  if (problems.length)
    throw new SafetyError(`${source} is not a valid backup manifest: ${problems.join('; ')}.`);
  return evidence;
}

function pick(m: Pick<BackupEvidence, 'backupId' | 'database' | 'rowCounts' | 'fingerprints'>) {
  return { backupId: m.backupId, database: m.database, rowCounts: m.rowCounts, fingerprints: m.fingerprints };
}

/** Reads the evidence of a manifest file of either format (see `parseEvidence`). */
export async function readEvidenceFile(file: string): Promise<BackupEvidence> {
  return parseEvidence(await readFile(file, 'utf8'), `Manifest ${file}`);
}
