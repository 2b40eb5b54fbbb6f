import type { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';

import { errorMessage, SafetyError } from '../../common/errors';
import type { BackupStore, ByteSource, Staging, StoredObject } from '../store';

import { formatS3Uri } from './client';
import {
  checkOffsiteWritable,
  checkStoredObject,
  choosePartSize,
  describeS3Error,
  MultipartDigest,
  putNew,
  stageUpload,
} from './upload';

export interface S3StoreOptions {
  /**
   * How a stored dump is proven: `etag` compares the store's ETag with the part digests (reading
   * the object back only when the ETag cannot prove it); `read-back` always reads it back.
   */
  verify?: 'etag' | 'read-back';
}

/** One bucket of S3 (or an S3-compatible server) as a backup store; keys are the objects' full keys. */
export class S3Store implements BackupStore {
  private made: S3Client | undefined;

  /** `client` is made on first use, so a store that is never read needs no credentials. */
  constructor(
    private readonly client: () => S3Client,
    readonly bucket: string,
    private readonly options: S3StoreOptions = {},
  ) {}

  private get s3(): S3Client {
    return (this.made ??= this.client());
  }

  uriOf(key: string): string {
    return formatS3Uri({ bucket: this.bucket, key });
  }

  checkWritable(keys: readonly string[]): Promise<void> {
    return checkOffsiteWritable(this.s3, this.bucket, keys);
  }

  stage(key: string, source: ByteSource, options: { expectedBytes: number }): Staging {
    const { s3, bucket } = this;
    const partSize = choosePartSize(options.expectedBytes);
    // The producer feeds every byte to the digest as it writes it: each part goes with the
    // Content-MD5 of those bytes, so the store checks every part on receipt.
    const digest = new MultipartDigest(partSize);
    const useETag = (this.options.verify ?? 'etag') === 'etag';
    const staged = stageUpload({
      client: s3,
      bucket,
      key,
      partSize,
      next: (size) => source.next(size),
      partMd5: (n) => digest.part(n),
    }).then((upload) => ({
      key,
      sizeBytes: upload.sizeBytes,
      parts: upload.parts,
      abort: () => upload.abort(),
      complete: async (expected: { sha256: string; sizeBytes: number; localFile: string }) => {
        const done = await upload.complete();
        const verified = await checkStoredObject({
          client: s3,
          bucket,
          key,
          eTagOnCompletion: done.eTag,
          partsETag: digest.eTag(),
          useETag,
          localFile: expected.localFile,
          sha256: expected.sha256,
          sizeBytes: expected.sizeBytes,
        });
        return {
          stored: { key, sizeBytes: expected.sizeBytes, eTag: done.eTag, versionId: done.versionId },
          verified,
        };
      },
    }));
    return { staged, digest };
  }

  putNew(key: string, body: string | Buffer): Promise<void> {
    return putNew(this.s3, this.bucket, key, body);
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const r = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, sizeBytes: r.ContentLength, eTag: r.ETag, versionId: r.VersionId };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
  }

  async get(key: string, versionId?: string): Promise<{ body: Readable; sizeBytes?: number }> {
    try {
      const r = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
      if (!r.Body) throw new Error('empty response body');
      return { body: r.Body as Readable, sizeBytes: r.ContentLength };
    } catch (error) {
      throw new SafetyError(`Could not read ${this.uriOf(key)}: ${errorMessage(error)}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    let token: string | undefined;
    do {
      const r = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? [])
        if (o.Key !== undefined) found.push({ key: o.Key, sizeBytes: o.Size, eTag: o.ETag });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async removeOwn(key: string, versionId?: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
  }

  describeError(error: unknown): string {
    return describeS3Error(error);
  }
}
