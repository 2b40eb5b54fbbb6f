import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';

import { SafetyError } from '../common/errors';
import type { TableFingerprint } from '../postgres/fingerprint';

export const MANIFEST_FORMAT = 1;

/**
 * The evidence a backup leaves for the phases after it. Written next to the dump (and uploaded
 * after it); every reader re-checks what it relies on (the sha256 above all) before trusting it.
 */
export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  backupId: string;
  database: string;
  /** `systemIdentifier`: the cluster's (pg_control), when the backup could read it. */
  server: { version: string; major: number; host: string; port: number; systemIdentifier?: string };
  dump: {
    tool: string;
    toolVersion: string;
    format: 'custom' | 'directory';
    compression: string;
    flags: string[];
    /** File name of the dump (custom) or of the tar of the directory, relative to the manifest. */
    file: string;
    sizeBytes: number;
    sha256: string;
    /** Offsite copy, when there is one. */
    uri?: string;
    s3VersionId?: string;
    s3ETag?: string;
  };
  startedAt: string;
  finishedAt: string;
  /** The snapshot the dump, counts and fingerprints were all taken in. */
  snapshotTakenAt: string;
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
  djangoMigrations?: { app: string; name: string }[];
  codeRef?: string;
  snapshotDatabase?: string;
  timings: Record<string, number>;
}

/** Reads and checks the shape of a manifest; a file that is not one is refused with its path. */
export function parseManifest(text: string, source: string): BackupManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new SafetyError(`${source} is not a backup manifest (not valid JSON).`);
  }
  const m = data as Partial<BackupManifest>;
  const problems: string[] = [];
  if (m.format !== MANIFEST_FORMAT)
    problems.push(`format is ${String(m.format)}, expected ${MANIFEST_FORMAT}`);
  if (typeof m.backupId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(m.backupId))
    problems.push('backupId is missing or invalid');
  if (typeof m.database !== 'string' || !m.database) problems.push('database is missing');
  if (!m.dump || typeof m.dump.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.dump.sha256))
    problems.push('dump.sha256 is missing or invalid');
  if (
    !m.dump ||
    typeof m.dump.file !== 'string' ||
    m.dump.file.includes('/') ||
    m.dump.file.startsWith('.')
  ) {
    problems.push('dump.file is missing or not a plain file name');
  }
  if (!Array.isArray(m.fingerprints)) problems.push('fingerprints are missing');
  if (!m.rowCounts || typeof m.rowCounts !== 'object') problems.push('rowCounts are missing');
  if (problems.length > 0)
    throw new SafetyError(`${source} is not a valid backup manifest: ${problems.join('; ')}.`);
  return m as BackupManifest;
}

export async function readManifestFile(file: string): Promise<BackupManifest> {
  return parseManifest(await readFile(file, 'utf8'), `Manifest ${file}`);
}

/** Writes the manifest atomically (temp file + rename), so a reader never sees half of one. */
export async function writeManifestFile(file: string, manifest: BackupManifest): Promise<void> {
  const tmp = `${file}.partial`;
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** The manifest's name for a dump file name: `x.dump` → `x.manifest.json`. */
export function manifestNameFor(dumpFile: string): string {
  return `${dumpFile.replace(/\.(dump|tar)$/, '')}.manifest.json`;
}

/** A digest of a file (hex), streamed. */
export async function hashFile(file: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return hashFile(file, 'sha256');
}
