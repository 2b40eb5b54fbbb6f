import { createHash } from 'node:crypto';
import { closeSync, fdatasync, fsyncSync, openSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';

import { ConfigurationError, SafetyError } from '../common/errors';
import { sha256File, type GrowingFile } from '../common/files';
import { describeExit, killActiveChildren, runProcess, succeeded, type RunResult } from '../process/runner';
import { Progress } from '../report/progress';

import type { ArchiveReader } from './archive-reader';
import { childEnv, childOptions, type ConnectionSettings } from './connection';
import type { ClientTools } from './tools';

export type CompressionMethod = 'auto' | 'none' | 'gzip' | 'lz4' | 'zstd';
export interface CompressionSpec {
  method: CompressionMethod;
  level?: number;
}

const LEVELS: Record<Exclude<CompressionMethod, 'auto' | 'none'>, [number, number]> = {
  gzip: [1, 9],
  lz4: [1, 12],
  zstd: [1, 22],
};

/** Parses the `compression` input: `auto`, `none`, `gzip`, `gzip:6`, `lz4`, `zstd:3`; `undefined` when malformed. */
export function parseCompression(text: string): CompressionSpec | undefined {
  const match = /^(auto|none|gzip|lz4|zstd)(?::(\d{1,2}))?$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const method = match[1] as CompressionMethod;
  if (match[2] === undefined) return { method };
  if (method === 'auto' || method === 'none') return undefined;
  const level = Number(match[2]);
  const [min, max] = LEVELS[method];
  return level >= min && level <= max ? { method, level } : undefined;
}

/**
 * pg_dump's compression flag for a client major. The default (`auto`) is gzip level 1 on every
 * version: measured end to end (bench/backup, docs/benchmarks.md) it beats no compression here, the
 * story's default level spends most of the dump's time compressing, and unlike lz4/zstd the archive
 * reader can inflate it, so counts and fingerprints come from the dump stream instead of a second
 * read of the tables. lz4/zstd on an older client is refused, naming the input.
 */
export function compressionArgs(
  spec: CompressionSpec,
  clientMajor: number,
): { args: string[]; label: string } {
  const method = spec.method === 'auto' ? 'gzip' : spec.method;
  const level = spec.method === 'auto' && method === 'gzip' ? 1 : spec.level;
  if (method === 'none') return { args: ['--compress=0'], label: 'none' };
  if (clientMajor < 16) {
    if (method !== 'gzip') {
      throw new ConfigurationError(
        `Input "compression" is "${method}", but pg_dump ${clientMajor} only compresses with gzip (lz4 and zstd need pg_dump 16 or later).`,
      );
    }
    const n = level ?? 6;
    return { args: [`--compress=${n}`], label: `gzip:${n}` };
  }
  const label = level === undefined ? method : `${method}:${level}`;
  return { args: [`--compress=${label}`], label };
}

export interface DumpOptions {
  tools: ClientTools;
  settings: ConnectionSettings;
  /** Where the archive is written (a `.partial` name); created exclusively with mode 0600. */
  file: string;
  /** An exported snapshot to dump (`pg_export_snapshot()`), so other readers see the same data. */
  snapshotId?: string;
  compression: string[];
  lockWaitTimeoutMs: number;
  timeoutMs: number;
  /** The preflight's estimate of the archive's size (not shown in progress: it is a guess). */
  expectedBytes?: number;
  /** Told about every byte on disk, so a reader can follow the file. */
  growing?: GrowingFile;
  /** Reads the archive as it streams (row counts, fingerprints). */
  reader?: ArchiveReader;
  /** Fed every byte as it is written: the offsite store's digest (per-part MD5s for S3). */
  digest?: { update(chunk: Buffer): void; finish(): void };
  /** Feed the stream to `pg_restore -f /dev/null` as well: the archive is read whole while it is written. */
  readBack?: boolean;
}

export interface DumpResult {
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  flags: string[];
  /** True when pg_restore read the whole archive as it streamed. */
  readBack: boolean;
}

const SYNC_EVERY = 32 * 1024 * 1024;

/** The last lines of a tool's stderr, for an error message. */
export function stderrTail(result: RunResult, lines = 5): string {
  const tail = result.stderr.trim().split('\n').slice(-lines).join(' | ');
  return tail ? `: ${tail}` : '';
}

/**
 * The environment that makes pg_dump write values exactly as a `withClient({ stableOutput: true })`
 * session reads them with COPY, so a fingerprint taken from the dump stream equals one of the live
 * table: pg_dump itself sets DateStyle ISO, IntervalStyle postgres and extra_float_digits 3; the
 * time zone and bytea output come from here, and `--encoding=UTF8` matches node-postgres.
 */
export function dumpEnv(settings: ConnectionSettings): Record<string, string | undefined> {
  return { ...childEnv(settings), PGTZ: 'UTC', PGOPTIONS: childOptions(settings, { bytea_output: 'hex' }) };
}

/** Backpressure: pauses a stream while any of several waits is pending. */
function pauser(stream: Readable | null): (until: Promise<unknown>) => void {
  let waits = 0;
  return (until) => {
    if (!stream) return;
    if (waits++ === 0) stream.pause();
    void until.finally(() => {
      if (--waits === 0) stream.resume();
    });
  };
}

/**
 * Runs pg_dump in custom format to stdout and writes the bytes to `file` while hashing them, so
 * the sha256 costs no second read. The same bytes go, as they arrive, to the archive reader and to
 * `pg_restore -f /dev/null` on its stdin, which reads the whole archive (a dump killed midway
 * passes `--list`, not this). Writes to the file are synchronous: while one is in progress Node
 * reads no more from the pipe, so pg_dump waits (backpressure); a slow pg_restore or inflater
 * pauses the pipe too. A non-zero exit, a signal, a timeout, an empty archive or a failed read-back
 * is an error; the caller removes the file.
 */
export async function runDump(options: DumpOptions): Promise<DumpResult> {
  const flags = [
    '--format=custom',
    ...options.compression,
    '--encoding=UTF8',
    `--lock-wait-timeout=${Math.max(1, Math.round(options.lockWaitTimeoutMs))}`,
    '--no-password',
    ...(options.snapshotId ? [`--snapshot=${options.snapshotId}`] : []),
  ];
  const fd = openSync(options.file, 'wx', 0o600);
  const hash = createHash('sha256');
  // Measured against what exists (the tables' data), never against the size estimate.
  const progress = new Progress({ label: 'pg_dump', detail: () => options.reader?.progressText() ?? '' });
  let writeError: Error | undefined;
  const restore: { stdin: Writable | null } = { stdin: null };
  let restoreGone: Promise<void> = Promise.resolve();
  let pause: (until: Promise<unknown>) => void = () => undefined;
  // Written bytes are flushed to disk as the dump goes (fdatasync on the thread pool every
  // SYNC_EVERY bytes, one at a time), so the final fsync has little left to write.
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  const readBack = options.readBack
    ? runProcess(options.tools.paths.pg_restore, ['--file=/dev/null'], {
        timeoutMs: options.timeoutMs,
        echo: false,
        pipeStdin: true,
        onSpawn: (child) => {
          restore.stdin = child.stdin;
          // pg_restore may stop reading early (a broken archive): its exit code tells, not EPIPE.
          child.stdin?.on('error', () => undefined);
          restoreGone = new Promise((resolve) => child.on('close', () => resolve()));
        },
      })
    : undefined;
  let result: RunResult;
  let finished = false;
  try {
    result = await runProcess(options.tools.paths.pg_dump, flags, {
      env: dumpEnv(options.settings),
      timeoutMs: options.timeoutMs,
      onSpawn: (child) => {
        pause = pauser(child.stdout);
      },
      onStdout: (chunk) => {
        if (writeError) return;
        try {
          for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done);
          hash.update(chunk);
          options.digest?.update(chunk);
          progress.add(chunk.length);
          options.growing?.grew(chunk.length);
          unsynced += chunk.length;
          if (unsynced >= SYNC_EVERY && !syncing) {
            unsynced = 0;
            syncing = new Promise<void>((resolve) => fdatasync(fd, () => resolve())).then(
              () => (syncing = undefined),
            );
          }
        } catch (error) {
          writeError = error as Error;
          // Stop pg_dump (and the read-back) rather than dump into a full disk.
          killActiveChildren('SIGTERM');
          return;
        }
        const reader = options.reader;
        if (reader) {
          reader.push(chunk);
          if (reader.backlog > 16 * 1024 * 1024) pause(reader.whenBacklogBelow(4 * 1024 * 1024));
        }
        const sink = restore.stdin;
        if (sink && !sink.destroyed && !sink.write(chunk)) {
          pause(Promise.race([new Promise((resolve) => sink.once('drain', resolve)), restoreGone]));
        }
      },
    });
    await syncing;
    if (!writeError) fsyncSync(fd);
    finished = !writeError && succeeded(result);
  } finally {
    restore.stdin?.end();
    progress.stop(!finished);
    await syncing;
    closeSync(fd);
  }
  options.digest?.finish();
  const restored = readBack ? await readBack : undefined;
  if (writeError) throw new SafetyError(`Writing the dump to ${options.file} failed: ${writeError.message}`);
  if (!succeeded(result))
    throw new SafetyError(`pg_dump failed: ${describeExit(result)}${stderrTail(result)}`);
  if (progress.total === 0)
    throw new SafetyError('pg_dump exited 0 but wrote nothing: an empty archive is not a backup.');
  if (restored && !succeeded(restored)) {
    throw new SafetyError(
      `The archive does not read back whole: ${describeExit(restored)}${stderrTail(restored)}`,
    );
  }
  return {
    sizeBytes: progress.total,
    sha256: hash.digest('hex'),
    durationMs: result.durationMs,
    flags,
    readBack: Boolean(restored),
  };
}

/**
 * Has pg_restore read every byte of the archive file, as a restore would, the output discarded
 * (`pg_restore --list` reads only its table of contents: `listArchive`). A failure is a
 * SafetyError quoting pg_restore.
 */
export async function readArchiveWhole(tools: ClientTools, file: string, timeoutMs: number): Promise<void> {
  const result = await runProcess(tools.paths.pg_restore, ['--file=/dev/null', '--', file], {
    timeoutMs,
    echo: false,
  });
  if (!succeeded(result))
    throw new SafetyError(
      `The archive does not read back whole: ${describeExit(result)}${stderrTail(result)}`,
    );
}

/**
 * Proves the closed file is the one streamed: the same size and the same sha256 as the bytes
 * pg_dump wrote (and pg_restore read whole). Re-reading comes from the page cache; it catches a file
 * altered on disk between the dump and its final name, which a size check alone would miss.
 */
export async function checkFileUnchanged(file: string, sizeBytes: number, sha256: string): Promise<void> {
  const actual = (await stat(file)).size;
  if (actual !== sizeBytes) {
    throw new SafetyError(
      `The archive changed on disk after it was written: ${actual} bytes, written as ${sizeBytes}.`,
    );
  }
  const hash = await sha256File(file);
  if (hash !== sha256) {
    throw new SafetyError(
      `The archive changed on disk after it was written: sha256 ${hash}, written as ${sha256}.`,
    );
  }
}
