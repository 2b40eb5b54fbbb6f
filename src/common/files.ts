import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { open, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';

import { SafetyError } from './errors';

/**
 * A file that one side appends to while the other reads it behind the writer: the offsite upload
 * follows the dump on disk, so a slow store never holds back pg_dump and memory stays bounded.
 */
export class GrowingFile {
  private written = 0;
  private finished = false;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly path: string) {}

  /** Writer side: `n` more bytes are on disk. */
  grew(n: number): void {
    this.written += n;
    this.wake();
  }

  /** Writer side: the file is complete. */
  finish(): void {
    this.finished = true;
    this.wake();
  }

  /** Writer side: the file will never be complete; readers fail with `error`. */
  fail(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  get size(): number {
    return this.written;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `end` bytes are written, or the file is complete; returns the bytes available. */
  async waitFor(end: number): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.written >= end || this.finished) return Math.min(end, this.written);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** A reader that returns consecutive pieces of at most `size` bytes, `undefined` at the end. */
  reader(): { next(size: number): Promise<Buffer | undefined>; close(): Promise<void> } {
    let position = 0;
    let handle: FileHandle | undefined;
    return {
      next: async (size: number) => {
        const available = await this.waitFor(position + size);
        const length = available - position;
        if (length <= 0) return undefined;
        handle ??= await open(this.path, constants.O_RDONLY);
        const buffer = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
          if (bytesRead === 0) throw new SafetyError(`${this.path} is shorter than the bytes written to it.`);
          done += bytesRead;
        }
        position += length;
        return buffer;
      },
      close: async () => {
        await handle?.close();
      },
    };
  }
}

/** Free bytes for an unprivileged writer in the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Whether a path exists (any type). */
export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Gives a complete, verified file its final name; refuses to replace an existing file. */
export async function promote(partial: string, final: string): Promise<void> {
  if (await exists(final)) throw new SafetyError(`${final} already exists; a backup is never overwritten.`);
  await rename(partial, final);
}

/** Removes a file if it is there. */
export async function removeFile(file: string): Promise<void> {
  await rm(file, { force: true });
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
