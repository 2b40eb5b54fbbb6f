/**
 * The backup manifest: the evidence a backup leaves for the phases after it. The bottom layer every
 * other module may import (postgres/ fills it in, storage/ carries it, checks/ and the actions read
 * it); it imports nothing of the suite but common/.
 */

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

/** Row count + content hash of one table: the one definition of "unchanged" in the whole suite. */
export interface TableFingerprint {
  table: string;
  rows: number;
  /** sha256 over the column signature, the row count and the order-independent sum of row hashes. */
  hash: string;
  /**
   * The sequences the table owns and where they stood at backup time (not part of `hash`: a
   * sequence may move forward). Absent in manifests written before sequences were recorded.
   */
  sequences?: SequenceValue[];
}

/**
 * Where a sequence owned by a protected table stood (a `serial` column's `OWNED BY` sequence or an
 * identity column's): part of what "unchanged" means, since a sequence moved back makes the next
 * insert collide with a kept row. Values are text: a bigint does not fit a JS number.
 */
export interface SequenceValue {
  /** `schema.name`, unquoted like table names. */
  sequence: string;
  /** The column it feeds. */
  column: string;
  lastValue: string;
  isCalled: boolean;
  increment: string;
}
