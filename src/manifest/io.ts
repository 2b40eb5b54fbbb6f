import { readFile, rename, writeFile } from 'node:fs/promises';

import { SafetyError } from '../common/errors';

import { MANIFEST_FORMAT, type BackupManifest } from './types';

/** The JSON of a manifest file; text that is not JSON is refused with its source. */
export function parseManifestJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SafetyError(`${source} is not a backup manifest (not valid JSON).`);
  }
}

/** Reads and checks the shape of a manifest; a file that is not one is refused with its path. */
export function parseManifest(text: string, source: string): BackupManifest {
  return checkManifest(parseManifestJson(text, source), source);
}

/** Checks the shape of a format-1 (pg_dump) manifest already parsed from JSON. */
export function checkManifest(data: unknown, source: string): BackupManifest {
  const m = (data && typeof data === 'object' ? data : {}) as Partial<BackupManifest>;
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
