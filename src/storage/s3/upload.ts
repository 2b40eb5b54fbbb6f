import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import * as core from '@actions/core';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

import { errorMessage, SafetyError } from '../../common/errors';
import { hashFile } from '../../common/files';
import { onCleanup } from '../../process/cleanup';
import { formatBytes } from '../../report/format';
import { PhaseProgress, Progress } from '../../report/progress';

import { formatS3Uri } from './client';

const MIB = 1024 * 1024;
/** S3's limits: at most 10,000 parts, each 5 MiB to 5 GiB (the last one may be smaller). */
export const MAX_PARTS = 10_000;
const MIN_PART = 8 * MIB;
const MAX_PART = 5 * 1024 * MIB;

/**
 * The part size for an object expected to be about `expectedBytes`: a whole number of MiB, at
 * least 8 MiB, and large enough that an object four times the estimate still fits in 10,000 parts
 * (the estimate comes from the database size, and a dump can come out larger than it).
 */
export function choosePartSize(expectedBytes: number): number {
  const needed = Math.ceil((Math.max(expectedBytes, 0) * 4) / MAX_PARTS);
  return Math.min(MAX_PART, Math.max(MIN_PART, Math.ceil(needed / MIB) * MIB));
}

/**
 * The MD5 of every part of a multipart upload, computed over a stream as it is produced, and the
 * object's ETag that S3 derives from them: md5 of the concatenated binary part digests plus
 * `-<parts>`, or the plain md5 for an object sent in one request. Sent as each part's Content-MD5,
 * the digests make the store verify every part on receipt.
 */
export class MultipartDigest {
  private readonly digests: Buffer[] = [];
  private current = createHash('md5');
  private inPart = 0;
  private total = 0;

  constructor(readonly partSize: number) {}

  update(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const n = Math.min(this.partSize - this.inPart, chunk.length - pos);
      this.current.update(chunk.subarray(pos, pos + n));
      this.inPart += n;
      this.total += n;
      pos += n;
      if (this.inPart === this.partSize) {
        this.digests.push(this.current.digest());
        this.current = createHash('md5');
        this.inPart = 0;
      }
    }
  }

  /** Ends the stream (the last, shorter part). */
  finish(): void {
    if (this.inPart > 0 || this.total === 0) this.digests.push(this.current.digest());
    this.inPart = 0;
  }

  /** The MD5 of part `n` (1-based) once all its bytes went through, else undefined. */
  part(n: number): Buffer | undefined {
    return this.digests[n - 1];
  }

  get parts(): number {
    return this.digests.length;
  }

  /** The ETag S3 gives the object (without quotes): multipart when it is larger than one part. */
  eTag(): string {
    if (this.total <= this.partSize) return (this.digests[0] as Buffer).toString('hex');
    return `${createHash('md5').update(Buffer.concat(this.digests)).digest('hex')}-${this.digests.length}`;
  }
}

/**
 * Whether a store's ETag has the form S3 gives unencrypted objects, the same form as `expected`:
 * an md5 for a single request, `md5-N` for a multipart upload. Some stores (SSE-KMS, several
 * S3-compatible servers) give other values, which prove nothing about the bytes.
 */
export function isMd5ETag(eTag: string | undefined, expected: string): boolean {
  const m = /^"?[0-9a-f]{32}(-\d+)?"?$/i.exec(eTag ?? '');
  return Boolean(m) && (m?.[1] !== undefined) === expected.includes('-');
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** Fails unless `key` is absent: an existing object is never overwritten. */
export async function assertKeyAbsent(client: S3Client, bucket: string, key: string): Promise<void> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (statusOf(error) === 404 || (error as { name?: string }).name === 'NotFound') return;
    throw error;
  }
  throw new SafetyError(`${formatS3Uri({ bucket, key })} already exists; a backup is never overwritten.`);
}

/**
 * Proves the store is reachable and writable before anything else happens: the bucket answers,
 * the target keys are free, and a multipart upload can be opened (then aborted, so nothing is
 * left behind and no DeleteObject permission is needed).
 */
export async function checkOffsiteWritable(
  client: S3Client,
  bucket: string,
  keys: readonly string[],
): Promise<void> {
  await client.send(new HeadBucketCommand({ Bucket: bucket }));
  for (const key of keys) await assertKeyAbsent(client, bucket, key);
  const key = keys[0] ?? 'probe';
  const probe = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  await abortUpload(client, bucket, key, probe.UploadId, { probe: true });
}

/**
 * Aborts a multipart upload so none of its parts stays stored. Some S3-compatible stores do not
 * implement the abort: the incomplete upload is invisible (no object), and a lifecycle rule for
 * incomplete multipart uploads removes its parts, so that is a warning, not a failure.
 */
export async function abortUpload(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string | undefined,
  options: { probe?: boolean } = {},
): Promise<void> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (error) {
    if (statusOf(error) === 404) return;
    if (options.probe) {
      // The preflight's probe holds no data: its abort failing is harmless, and a warning would read
      // as a failed upload of the backup.
      core.debug(
        `The preflight's empty multipart probe at ${formatS3Uri({ bucket, key })} could not be aborted (${describeS3Error(error)}); it holds no data.`,
      );
      return;
    }
    core.warning(
      `Could not abort the multipart upload of ${formatS3Uri({ bucket, key })} (${describeS3Error(error)}); ` +
        'no object is visible, but its parts stay stored until a lifecycle rule for incomplete uploads removes them.',
    );
  }
}

/** An upload whose bytes are all sent but which is not visible until `complete()`. */
export interface StagedUpload {
  bucket: string;
  key: string;
  sizeBytes: number;
  parts: number;
  /** Makes the object visible (never over an existing one). */
  complete(): Promise<{ eTag?: string; versionId?: string }>;
  /** Discards everything sent: no object appears. */
  abort(): Promise<void>;
}

export interface StageOptions {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Returns the next piece of at most `size` bytes, `undefined` at the end. */
  next(size: number): Promise<Buffer | undefined>;
  /** Parts in flight at once. */
  concurrency?: number;
  /** The MD5 of part `n` of the bytes as produced: sent as Content-MD5, so the store checks each part. */
  partMd5?: (partNumber: number) => Buffer | undefined;
}

/**
 * Sends a stream as a multipart upload, part by part as the bytes arrive, and stops short of
 * completing it: the caller completes only after the local copy has verified, so an unverified
 * dump never becomes a visible object. Any failure aborts the multipart upload.
 */
export async function stageUpload(options: StageOptions): Promise<StagedUpload> {
  const { client, bucket, key, partSize } = options;
  const first = await options.next(partSize);
  const second = first && first.length === partSize ? await options.next(partSize) : undefined;
  if (!second) {
    // Small enough for one request: kept in memory (at most one part) and put on completion.
    const body = first ?? Buffer.alloc(0);
    return {
      bucket,
      key,
      sizeBytes: body.length,
      parts: 1,
      complete: async () => {
        await assertKeyAbsent(client, bucket, key);
        const r = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            IfNoneMatch: '*',
            ContentMD5: options.partMd5?.(1)?.toString('base64'),
          }),
        );
        return { eTag: r.ETag, versionId: r.VersionId };
      },
      abort: () => Promise.resolve(),
    };
  }
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`The store returned no upload id for ${formatS3Uri({ bucket, key })}.`);
  let completed = false;
  const abort = onCleanup(`abort the upload of ${formatS3Uri({ bucket, key })}`, async () => {
    if (!completed) await abortUpload(client, bucket, key, uploadId);
  });
  const parts: CompletedPart[] = [];
  let sizeBytes = 0;
  let stored = 0;
  const progress = new PhaseProgress(
    `Upload to ${formatS3Uri({ bucket, key })}`,
    () => `${formatBytes(stored)} stored in ${parts.length} part(s) of ${formatBytes(sizeBytes)} handed over`,
  );
  // The first part that failed: the loop stops at it instead of reading on.
  let failure: { error: unknown } | undefined;
  try {
    const inFlight = new Set<Promise<void>>();
    const send = (body: Buffer, partNumber: number): void => {
      sizeBytes += body.length;
      const p = client
        .send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentMD5: options.partMd5?.(partNumber)?.toString('base64'),
          }),
        )
        .then((r) => {
          parts.push({ PartNumber: partNumber, ETag: r.ETag });
          stored += body.length;
        })
        .finally(() => inFlight.delete(p));
      // A part can fail while the loop waits for the dump's next bytes, when nothing awaits it yet:
      // handled here at once (an unhandled rejection would end the process), rethrown by the loop.
      p.catch((error: unknown) => {
        failure ??= { error };
      });
      inFlight.add(p);
    };
    const check = (): void => {
      if (failure) throw failure.error;
    };
    send(first as Buffer, 1);
    send(second, 2);
    for (let n = 3; ; n++) {
      while (inFlight.size >= (options.concurrency ?? 2)) await Promise.race(inFlight);
      check();
      const body = await options.next(partSize);
      check();
      if (!body) break;
      if (n > MAX_PARTS) throw new Error(`The dump needs more than ${MAX_PARTS} parts of ${partSize} bytes.`);
      send(body, n);
    }
    await Promise.all(inFlight);
    check();
    progress.done();
  } catch (error) {
    progress.done(undefined, true);
    await abort().catch(() => undefined);
    throw error;
  }
  parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
  return {
    bucket,
    key,
    sizeBytes,
    parts: parts.length,
    complete: async () => {
      await assertKeyAbsent(client, bucket, key);
      const r = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      );
      // Completed: running the cleanup now only unregisters it.
      completed = true;
      await abort();
      return { eTag: r.ETag, versionId: r.VersionId };
    },
    abort,
  };
}

/** Puts a small object (the manifest), never over an existing key. */
export async function putNew(
  client: S3Client,
  bucket: string,
  key: string,
  body: string | Buffer,
): Promise<void> {
  await assertKeyAbsent(client, bucket, key);
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      IfNoneMatch: '*',
      ContentType: 'application/json',
    }),
  );
}

/** The stored object's ETag and size (HeadObject). */
export async function headObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ eTag?: string; sizeBytes?: number }> {
  const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return { eTag: r.ETag, sizeBytes: r.ContentLength };
}

/** Which of our digests a store's ETag can be compared with. */
export type ETagForm = 'parts' | 'whole-md5' | 'opaque';

/**
 * `parts`: the form S3 gives an unencrypted object (`isMd5ETag`), compared with the part digests.
 * `whole-md5`: a plain md5 for an object sent in several parts — some S3-compatible stores (s3rver
 * among them) give a multipart object the md5 of its whole content. `opaque`: anything else.
 */
export function eTagForm(eTag: string | undefined, partsETag: string): ETagForm {
  if (isMd5ETag(eTag, partsETag)) return 'parts';
  if (partsETag.includes('-') && /^"?[0-9a-f]{32}"?$/i.test(eTag ?? '')) return 'whole-md5';
  return 'opaque';
}

const unquote = (e: string | undefined): string => (e ?? '').replace(/"/g, '').toLowerCase();

/**
 * Proves the stored object holds exactly the dump's bytes, the cheapest way the store allows, and
 * says how. With `useETag`: an ETag in S3's form must equal the part digests (on completion and on
 * HeadObject; a difference is an error); a whole-object md5 ETag is compared with the md5 of the
 * local file, which was proven equal to the stream. Otherwise — `read-back`, an opaque ETag, or an
 * md5-looking ETag that is not the content's (SSE-KMS) — the object is read back and its sha256 and
 * size compared.
 */
export async function checkStoredObject(o: {
  client: S3Client;
  bucket: string;
  key: string;
  /** The ETag CompleteMultipartUpload (or PutObject) returned. */
  eTagOnCompletion?: string;
  /** `MultipartDigest.eTag()` of the stream. */
  partsETag: string;
  useETag: boolean;
  /** The local copy, proven to be the bytes that were streamed. */
  localFile: string;
  sha256: string;
  sizeBytes: number;
}): Promise<string> {
  const uri = formatS3Uri({ bucket: o.bucket, key: o.key });
  const form = o.useETag ? eTagForm(o.eTagOnCompletion, o.partsETag) : 'opaque';
  if (form === 'parts') {
    const head = await headObject(o.client, o.bucket, o.key);
    if (eTagForm(head.eTag, o.partsETag) === 'parts') {
      // Every part went with the Content-MD5 of the bytes as pg_dump wrote them (the store checked
      // each on receipt), and the object's ETag is derived from exactly those digests.
      if (unquote(o.eTagOnCompletion) !== o.partsETag || unquote(head.eTag) !== o.partsETag) {
        throw new SafetyError(
          `the stored object ${uri} has ETag ${unquote(head.eTag)} (on completion ${unquote(o.eTagOnCompletion)}), not the dump's ${o.partsETag}`,
        );
      }
      return `ETag ${o.partsETag} equals the dump's part digests`;
    }
  } else if (form === 'whole-md5') {
    const [head, md5] = await Promise.all([
      headObject(o.client, o.bucket, o.key),
      hashFile(o.localFile, 'md5'),
    ]);
    if (
      unquote(o.eTagOnCompletion) === md5 &&
      unquote(head.eTag) === md5 &&
      (head.sizeBytes === undefined || head.sizeBytes === o.sizeBytes)
    ) {
      return `ETag ${md5} equals the md5 of the whole dump (this store's ETag for a multipart object)`;
    }
  }
  const back = await hashObject(o.client, o.bucket, o.key);
  if (back.sha256 !== o.sha256 || back.sizeBytes !== o.sizeBytes) {
    throw new SafetyError(
      `the stored object ${uri} reads back as sha256 ${back.sha256} (${back.sizeBytes} bytes), not the dump's`,
    );
  }
  return `read back and sha256 equal${o.useETag ? ` (the store's ETag ${String(o.eTagOnCompletion)} is not one derived from the dump's digests)` : ''}`;
}

/** Reads a stored object back, streaming, and returns its sha256 and size. */
export async function hashObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; sizeBytes: number }> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  const progress = new Progress({
    label: `Read-back of ${formatS3Uri({ bucket, key })}`,
    totalBytes: r.ContentLength,
  });
  let finished = false;
  try {
    for await (const chunk of r.Body as Readable) {
      hash.update(chunk as Buffer);
      progress.add((chunk as Buffer).length);
    }
    finished = true;
  } finally {
    progress.stop(!finished);
  }
  return { sha256: hash.digest('hex'), sizeBytes: progress.total };
}

/** One line for an S3 failure, with the HTTP status when there is one. */
export function describeS3Error(error: unknown): string {
  const status = statusOf(error);
  const name = (error as { name?: string }).name;
  const text = errorMessage(error) || name || 'unknown error';
  const line = status ? `${text} (HTTP ${status}${name && !text.includes(name) ? ` ${name}` : ''})` : text;
  // A HEAD answered 403 carries no body, so the SDK cannot name the code: say what 403 means.
  return status === 403 ? `access denied: ${line}; check the credentials and the bucket policy` : line;
}
