import { createHash } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ConfigurationError, SafetyError, errorMessage } from '../common/errors';
import { sha256File } from '../common/files';
import { parseManifest, readManifestFile, type BackupManifest } from '../manifest';
import { onCleanup } from '../process/cleanup';
import { formatBytes } from '../report/format';
import { Progress } from '../report/progress';

import { describeLocation, openLocation, siblingLocation, type Location, type StoreOptions } from './stores';

/** The dump's location: beside the manifest (same directory or prefix), named by `manifest.dump.file`. */
export function dumpLocationFor(manifestLocation: Location, manifest: BackupManifest): Location {
  return siblingLocation(manifestLocation, manifest.dump.file);
}

/** A manifest is a few MiB at most (a row count and a fingerprint per table); anything larger is not one. */
export const MAX_MANIFEST_BYTES = 64 << 20;

/**
 * Refuses, naming the input and the path, a local manifest that is missing, not a regular file
 * (a directory, a device such as /dev/zero, a FIFO that would block the read) or over
 * MAX_MANIFEST_BYTES. Synchronous, so inputs can be checked before any side effect; `allowMissing`
 * leaves a missing file to the read, which refuses it the same way.
 */
export function checkManifestFile(
  file: string,
  input: string,
  options: { allowMissing?: boolean } = {},
): void {
  let info;
  try {
    info = statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.allowMissing) return;
    throw new ConfigurationError(
      code === 'ENOENT'
        ? `Input "${input}": manifest ${file} does not exist.`
        : `Input "${input}": manifest ${file} cannot be read (${code ?? errorMessage(error)}).`,
    );
  }
  if (!info.isFile()) {
    const kind = info.isDirectory() ? 'a directory' : 'not a regular file';
    throw new ConfigurationError(`Input "${input}": manifest ${file} is ${kind}.`);
  }
  if (info.size > MAX_MANIFEST_BYTES) {
    throw new ConfigurationError(
      `Input "${input}": manifest ${file} is ${formatBytes(info.size)}, over the ${formatBytes(MAX_MANIFEST_BYTES)} a manifest may be.`,
    );
  }
}

/** Reads and parses the manifest from its store. */
export async function loadManifest(location: Location, options: StoreOptions): Promise<BackupManifest> {
  const { store, key } = openLocation(location, options);
  const file = store.localFile?.(key);
  if (file !== undefined) {
    checkManifestFile(file, 'manifest');
    return readManifestFile(file);
  }
  const { body, sizeBytes: length } = await store.get(key);
  const tooLarge = (): SafetyError =>
    new SafetyError(
      `Input "manifest": ${describeLocation(location)} is over the ${formatBytes(MAX_MANIFEST_BYTES)} a manifest may be.`,
    );
  if (length !== undefined && length > MAX_MANIFEST_BYTES) {
    body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_MANIFEST_BYTES) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return parseManifest(Buffer.concat(chunks).toString('utf8'), `Manifest ${describeLocation(location)}`);
}

export interface FetchedDump {
  /** The local file to restore from (the original for a local dump, a downloaded copy for S3). */
  file: string;
  sha256: string;
  bytes: number;
  downloaded: boolean;
}

/**
 * Makes the dump available as a local file and computes its sha256 on the way: an S3 object is
 * streamed to `<tempDir>/<name>.partial` (hashed while it downloads) and renamed only when complete.
 * The caller compares the hash with the manifest; a downloaded copy is removed when the run ends.
 */
export async function fetchDump(
  location: Location,
  manifest: BackupManifest,
  options: StoreOptions & { tempDir: string },
): Promise<FetchedDump> {
  const { store, key } = openLocation(location, options);
  const local = store.localFile?.(key);
  if (local !== undefined) {
    // A dump on this machine is hashed where it is, not copied.
    let info;
    try {
      info = await stat(local);
    } catch {
      throw new SafetyError(`Dump ${local} does not exist.`);
    }
    if (!info.isFile()) throw new SafetyError(`Dump ${local} is not a regular file.`);
    let sha256: string;
    try {
      sha256 = await sha256File(local);
    } catch (error) {
      throw new SafetyError(`Dump ${local} could not be read: ${errorMessage(error)}`);
    }
    return { file: local, sha256, bytes: info.size, downloaded: false };
  }
  await mkdir(options.tempDir, { recursive: true });
  const fs = await statfs(options.tempDir);
  const free = fs.bavail * fs.bsize;
  if (manifest.dump.sizeBytes > 0 && free < manifest.dump.sizeBytes * 1.02 + (64 << 20)) {
    throw new SafetyError(
      `Not enough space in ${options.tempDir} for the dump: ${formatBytes(manifest.dump.sizeBytes)} needed, ${formatBytes(free)} free.`,
    );
  }
  const file = path.join(options.tempDir, path.basename(manifest.dump.file));
  const partial = `${file}.partial`;
  const remove = onCleanup(`remove downloaded dump ${file}`, async () => {
    await rm(partial, { force: true });
    await rm(file, { force: true });
  });
  const { body, sizeBytes: length } = await store.get(key, manifest.dump.s3VersionId);
  const hash = createHash('sha256');
  const progress = new Progress({
    label: `Downloading ${describeLocation(location)}`,
    totalBytes: length ?? manifest.dump.sizeBytes,
  });
  let finished = false;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      progress.add(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, hasher, createWriteStream(partial, { mode: 0o600 }));
    finished = true;
  } catch (error) {
    await remove();
    throw new SafetyError(`Download of ${describeLocation(location)} failed: ${errorMessage(error)}`);
  } finally {
    progress.stop(!finished);
  }
  await rename(partial, file);
  return { file, sha256: hash.digest('hex'), bytes: progress.total, downloaded: true };
}
