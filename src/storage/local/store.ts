import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, link, mkdir, open, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { ConfigurationError, errorMessage, SafetyError } from '../../common/errors';
import { onCleanup } from '../../process/cleanup';
import type { BackupStore, ByteSource, ExpectedBytes, Staging, StoredObject } from '../store';

/** Bytes read from the source at a time. */
const PIECE = 8 << 20;

/**
 * A directory on this machine (a mounted volume, say) as a backup store; keys are paths below it.
 * A put writes `<key>.partial` and gives it its name with `link()`, which fails when the name
 * exists: an object is never overwritten, even by a run racing this one.
 */
export class LocalStore implements BackupStore {
  constructor(readonly root: string) {}

  private fileOf(key: string): string {
    if (!key || path.isAbsolute(key) || key.split(/[\\/]/).some((p) => p === '..' || p === '.' || p === ''))
      throw new ConfigurationError(
        `Key ${JSON.stringify(key)} is not a plain relative path in ${this.root}.`,
      );
    return path.join(this.root, key);
  }

  uriOf(key: string): string {
    return this.fileOf(key);
  }

  localFile(key: string): string {
    return this.fileOf(key);
  }

  async checkWritable(keys: readonly string[]): Promise<void> {
    const info = await stat(this.root).catch(() => undefined);
    if (!info?.isDirectory()) throw new SafetyError(`${this.root} is not a directory.`);
    await access(this.root, constants.W_OK).catch(() => {
      throw new SafetyError(`${this.root} is not writable.`);
    });
    for (const key of keys) await this.assertAbsent(key);
  }

  private async assertAbsent(key: string): Promise<void> {
    if (await this.head(key))
      throw new SafetyError(`${this.uriOf(key)} already exists; a backup is never overwritten.`);
  }

  stage(key: string, source: ByteSource): Staging {
    return { staged: this.send(key, source) };
  }

  private async send(key: string, source: ByteSource) {
    const file = this.fileOf(key);
    await this.assertAbsent(key);
    await mkdir(path.dirname(file), { recursive: true });
    const partial = `${file}.partial`;
    let done = false;
    const abort = onCleanup(`remove the partial ${partial}`, async () => {
      if (!done) await rm(partial, { force: true });
    });
    let sizeBytes = 0;
    try {
      const handle = await open(partial, 'wx', 0o600);
      try {
        for (let piece = await source.next(PIECE); piece; piece = await source.next(PIECE)) {
          await handle.write(piece);
          sizeBytes += piece.length;
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      await abort().catch(() => undefined);
      throw error;
    }
    return {
      key,
      sizeBytes,
      parts: 1,
      abort,
      complete: async (expected: ExpectedBytes) => {
        await this.link(partial, file);
        done = true;
        await abort();
        const back = await hashStream(createReadStream(file));
        if (back.sha256 !== expected.sha256 || back.sizeBytes !== expected.sizeBytes) {
          throw new SafetyError(
            `the stored file ${file} reads back as sha256 ${back.sha256} (${back.sizeBytes} bytes), not the dump's`,
          );
        }
        return { stored: { key, sizeBytes: back.sizeBytes }, verified: 'read back and sha256 equal' };
      },
    };
  }

  /** Gives `partial` the name `file`, failing when that name exists, then removes the partial name. */
  private async link(partial: string, file: string): Promise<void> {
    try {
      await link(partial, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new SafetyError(`${file} already exists; a backup is never overwritten.`);
      throw error;
    }
    await unlink(partial);
  }

  async putNew(key: string, body: string | Buffer): Promise<void> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const partial = `${file}.partial`;
    try {
      await writeFile(partial, body, { mode: 0o600, flag: 'wx' });
      await this.link(partial, file);
    } finally {
      await rm(partial, { force: true });
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.fileOf(key));
      return info.isFile() ? { key, sizeBytes: info.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async get(key: string): Promise<{ body: Readable; sizeBytes?: number }> {
    const file = this.fileOf(key);
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a regular file');
      const handle = await open(file, 'r');
      return { body: handle.createReadStream(), sizeBytes: info.size };
    } catch (error) {
      throw new SafetyError(`Could not read ${file}: ${errorMessage(error)}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch(
      (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      },
    );
    const found: StoredObject[] = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.endsWith('.partial')) continue;
      const key = path.relative(this.root, path.join(e.parentPath, e.name)).split(path.sep).join('/');
      if (!key.startsWith(prefix)) continue;
      found.push({ key, sizeBytes: (await stat(path.join(this.root, key))).size });
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async removeOwn(key: string): Promise<void> {
    await rm(this.fileOf(key), { force: true });
  }

  describeError(error: unknown): string {
    return errorMessage(error);
  }
}

/** Reads a stream to its end: sha256 and size. */
export async function hashStream(body: Readable): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}
