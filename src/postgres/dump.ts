import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

import { ConfigurationError, SafetyError } from '../common/errors';
import { describeExit, killActiveChildren, runProcess, succeeded, type RunResult } from '../process/runner';
import { Progress } from '../report/progress';
import type { GrowingFile } from '../storage/local';
import { sha256File } from '../storage/manifest';

import { childEnv, type ConnectionSettings } from './connection';
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
 * pg_dump's compression flag for a client major. The default (`auto`) is fast: lz4 where pg_dump
 * has it (16 and later), gzip level 1 before — the story's default gzip level spends most of the
 * dump's time compressing. lz4/zstd on an older client is refused, naming the input.
 */
export function compressionArgs(
  spec: CompressionSpec,
  clientMajor: number,
): { args: string[]; label: string } {
  const method = spec.method === 'auto' ? (clientMajor >= 16 ? 'lz4' : 'gzip') : spec.method;
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
  /** For the progress line's ETA. */
  expectedBytes?: number;
  /** Told about every byte on disk, so a reader can follow the file. */
  growing?: GrowingFile;
}

export interface DumpResult {
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  flags: string[];
}

/** The last lines of a tool's stderr, for an error message. */
export function stderrTail(result: RunResult, lines = 5): string {
  const tail = result.stderr.trim().split('\n').slice(-lines).join(' | ');
  return tail ? `: ${tail}` : '';
}

/**
 * Runs pg_dump in custom format to stdout and writes the bytes to `file` while hashing them, so
 * the sha256 costs no second read. Writes are synchronous on purpose: while one is in progress
 * Node reads no more from the pipe, so pg_dump waits (backpressure) instead of memory filling up.
 * A non-zero exit, a signal, a timeout or an empty archive is an error; the caller removes the file.
 */
export async function runDump(options: DumpOptions): Promise<DumpResult> {
  const flags = [
    '--format=custom',
    ...options.compression,
    `--lock-wait-timeout=${Math.max(1, Math.round(options.lockWaitTimeoutMs))}`,
    '--no-password',
    ...(options.snapshotId ? [`--snapshot=${options.snapshotId}`] : []),
  ];
  const fd = openSync(options.file, 'wx', 0o600);
  const hash = createHash('sha256');
  const progress = new Progress({ label: 'pg_dump', expectedBytes: options.expectedBytes });
  let writeError: Error | undefined;
  let result: RunResult;
  try {
    result = await runProcess(options.tools.paths.pg_dump, flags, {
      env: childEnv(options.settings),
      timeoutMs: options.timeoutMs,
      onStdout: (chunk) => {
        if (writeError) return;
        try {
          for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done);
          hash.update(chunk);
          progress.add(chunk.length);
          options.growing?.grew(chunk.length);
        } catch (error) {
          writeError = error as Error;
          // The only child running now is pg_dump: stop it rather than dump into a full disk.
          killActiveChildren('SIGTERM');
        }
      },
    });
    if (!writeError) fsyncSync(fd);
  } finally {
    progress.stop();
    closeSync(fd);
  }
  if (writeError) throw new SafetyError(`Writing the dump to ${options.file} failed: ${writeError.message}`);
  if (!succeeded(result))
    throw new SafetyError(`pg_dump failed: ${describeExit(result)}${stderrTail(result)}`);
  if (progress.total === 0)
    throw new SafetyError('pg_dump exited 0 but wrote nothing: an empty archive is not a backup.');
  return { sizeBytes: progress.total, sha256: hash.digest('hex'), durationMs: result.durationMs, flags };
}

/**
 * Proves the archive is whole and unchanged: `pg_restore -f /dev/null` reads every byte of it (a
 * dump killed midway passes `--list` but not this), while the file is re-hashed in parallel and
 * compared with the sha256 taken as it was written.
 */
export async function verifyArchive(
  tools: ClientTools,
  file: string,
  sha256: string,
  timeoutMs: number,
): Promise<void> {
  const [restore, actual] = await Promise.all([
    runProcess(tools.paths.pg_restore, ['--file=/dev/null', '--', file], { timeoutMs, echo: false }),
    sha256File(file),
  ]);
  if (!succeeded(restore)) {
    throw new SafetyError(
      `The archive does not read back whole: ${describeExit(restore)}${stderrTail(restore)}`,
    );
  }
  if (actual !== sha256) {
    throw new SafetyError(
      `The archive changed on disk after it was written: sha256 ${actual}, written as ${sha256}.`,
    );
  }
}
