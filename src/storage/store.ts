import type { Readable } from 'node:stream';

/**
 * Where backups are kept: S3 (`./s3/`), a directory (`./local/`). A new store (GCS, Azure Blob) is a
 * new folder beside them implementing this interface, and one entry in `STORES` (`./stores.ts`).
 *
 * Every store keeps the same promises: an object is never overwritten (a put to a key that exists
 * fails, naming it); a staged put is invisible until `complete()`, which proves the stored bytes
 * are the ones sent; nothing half-sent is ever left under its key.
 */
export interface BackupStore {
  /** The URI (or path) of an object, as summaries and manifests name it. */
  uriOf(key: string): string;
  /**
   * Before any side effect: the store answers, the keys are free, and a put can be started (and
   * is then cancelled, leaving nothing behind).
   */
  checkWritable(keys: readonly string[]): Promise<void>;
  /**
   * Starts a put that sends the bytes as `source` produces them and is not visible until its
   * `complete()`. `digest`, when the store gives one, is fed every byte by the producer as it
   * writes them, so the store can check what it receives against the producer's bytes.
   */
  stage(key: string, source: ByteSource, options: { expectedBytes: number }): Staging;
  /** Puts a small object (a manifest), never over an existing key. */
  putNew(key: string, body: string | Buffer): Promise<void>;
  /** The object's size and tags, or `undefined` when there is none. */
  head(key: string): Promise<StoredObject | undefined>;
  /** The object's bytes as a stream; fails (a `SafetyError` naming the URI) when it cannot be read. */
  get(key: string, versionId?: string): Promise<{ body: Readable; sizeBytes?: number }>;
  /** The objects whose keys start with `prefix`, in key order. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes an object this run made moments ago (never anything else: backups are not deleted). */
  removeOwn(key: string, versionId?: string): Promise<void>;
  /** The object as a file on this machine, when the store is one (read in place, not copied). */
  localFile?(key: string): string;
  /** One line for a failure of this store (status, what it means). */
  describeError(error: unknown): string;
}

/** An object in a store. */
export interface StoredObject {
  key: string;
  sizeBytes?: number;
  eTag?: string;
  versionId?: string;
}

/** The bytes of a put, read as they are produced (a dump followed on disk while pg_dump writes it). */
export interface ByteSource {
  /** The next piece of at most `size` bytes, `undefined` at the end. */
  next(size: number): Promise<Buffer | undefined>;
}

/** What a producer feeds each byte to, as it writes it. */
export interface StreamDigest {
  update(chunk: Buffer): void;
  /** The stream ended. */
  finish(): void;
}

export interface Staging {
  staged: Promise<StagedPut>;
  digest?: StreamDigest;
}

/** What the stored object must be: the producer's sha256 and size, and the local copy proven equal to them. */
export interface ExpectedBytes {
  sha256: string;
  sizeBytes: number;
  localFile: string;
}

/** A put whose bytes are all sent but which is not visible yet. */
export interface StagedPut {
  key: string;
  sizeBytes: number;
  parts: number;
  /**
   * Makes the object visible (never over an existing one) and proves it holds `expected`. Returns
   * the stored object and how it was proven. A failed proof throws; the object is then left as it
   * is (the manifest does not name it).
   */
  complete(expected: ExpectedBytes): Promise<{ stored: StoredObject; verified: string }>;
  /** Discards everything sent: no object appears. */
  abort(): Promise<void>;
}
