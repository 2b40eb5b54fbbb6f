import { createHash } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { ConfigurationError, SafetyError, errorMessage } from '../common/errors';
import { onCleanup } from '../process/cleanup';
import { formatBytes } from '../report/format';
import { Progress } from '../report/progress';

import { parseManifest, readManifestFile, sha256File, type BackupManifest } from './manifest';
import { formatS3Uri, parseS3Uri, type S3Location } from './s3';

/** Where a file lives: on this machine or in S3. */
export type Location = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; key: string };

export function describeLocation(location: Location): string {
  return location.kind === 'local' ? location.path : formatS3Uri(location);
}

/** A local path or an `s3://` URI, as given in an input. */
export function parseLocation(value: string, input: string): Location {
  if (value.startsWith('s3://')) {
    const { bucket, key } = parseS3Uri(value, input);
    if (!key || key.endsWith('/'))
      throw new ConfigurationError(`Input "${input}" must name an object, got ${JSON.stringify(value)}.`);
    return { kind: 's3', bucket, key };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigurationError(
      `Input "${input}" must be a local path or an s3:// URI, got ${JSON.stringify(value)}.`,
    );
  }
  return { kind: 'local', path: path.resolve(value) };
}

/** The dump's location: beside the manifest (same directory or prefix), named by `manifest.dump.file`. */
export function dumpLocationFor(manifestLocation: Location, manifest: BackupManifest): Location {
  if (manifestLocation.kind === 'local')
    return { kind: 'local', path: path.join(path.dirname(manifestLocation.path), manifest.dump.file) };
  const slash = manifestLocation.key.lastIndexOf('/');
  const prefix = slash >= 0 ? manifestLocation.key.slice(0, slash + 1) : '';
  return { kind: 's3', bucket: manifestLocation.bucket, key: `${prefix}${manifest.dump.file}` };
}

async function getObject(
  client: S3Client,
  location: S3Location,
  versionId?: string,
): Promise<{ body: Readable; length?: number }> {
  try {
    const r = await client.send(
      new GetObjectCommand({ Bucket: location.bucket, Key: location.key, VersionId: versionId }),
    );
    if (!r.Body) throw new Error('empty response body');
    return { body: r.Body as Readable, length: r.ContentLength };
  } catch (error) {
    throw new SafetyError(`Could not read ${formatS3Uri(location)}: ${errorMessage(error)}`);
  }
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

/** Reads and parses the manifest from a local file or S3. */
export async function loadManifest(location: Location, s3: () => S3Client): Promise<BackupManifest> {
  if (location.kind === 'local') {
    checkManifestFile(location.path, 'manifest');
    return readManifestFile(location.path);
  }
  const { body, length } = await getObject(s3(), location);
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
  options: { tempDir: string; s3: () => S3Client },
): Promise<FetchedDump> {
  if (location.kind === 'local') {
    let info;
    try {
      info = await stat(location.path);
    } catch {
      throw new SafetyError(`Dump ${location.path} does not exist.`);
    }
    if (!info.isFile()) throw new SafetyError(`Dump ${location.path} is not a regular file.`);
    let sha256: string;
    try {
      sha256 = await sha256File(location.path);
    } catch (error) {
      throw new SafetyError(`Dump ${location.path} could not be read: ${errorMessage(error)}`);
    }
    return { file: location.path, sha256, bytes: info.size, downloaded: false };
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
  const { body, length } = await getObject(options.s3(), location, manifest.dump.s3VersionId);
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
