import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LocalStore } from '../../src/storage/local/store';
import { S3Store } from '../../src/storage/s3/store';
import type { BackupStore, ByteSource } from '../../src/storage/store';
import { startS3, type S3Server } from '../harness/s3';

/** One contract, run against every store: what the backup and the rollback rely on. */
interface Subject {
  store: BackupStore;
  /** A local file to prove against (the backup's verified local copy). */
  dir: string;
  stop(): Promise<void>;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A source that hands out `data` in pieces, as a dump followed on disk does. */
function sourceOf(data: Buffer): ByteSource {
  let at = 0;
  return {
    next: (size) => {
      if (at >= data.length) return Promise.resolve(undefined);
      const piece = data.subarray(at, Math.min(data.length, at + size));
      at += piece.length;
      return Promise.resolve(Buffer.from(piece));
    },
  };
}

async function readAll(store: BackupStore, key: string): Promise<Buffer> {
  const { body } = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Sends `data` under `key` the way the backup does: stage, feed the digest, complete with proof.
 * `claimed` is what the producer wrote (the digest is fed those bytes, the proof compares with them);
 * `data` is what reached the store (a file altered between the dump and the upload).
 */
async function put(s: Subject, key: string, data: Buffer, claimed = data): Promise<string> {
  const staging = s.store.stage(key, sourceOf(data), { expectedBytes: data.length });
  staging.digest?.update(claimed);
  staging.digest?.finish();
  const staged = await staging.staged;
  const localFile = path.join(s.dir, `${key.replace(/\//g, '_')}.local`);
  writeFileSync(localFile, claimed);
  const done = await staged.complete({ localFile, sha256: sha256(claimed), sizeBytes: claimed.length });
  return done.verified;
}

const subjects: [string, () => Promise<Subject>][] = [
  [
    's3 (s3rver)',
    async () => {
      const s3: S3Server = await startS3('contract');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-store-s3-'));
      return {
        store: new S3Store(() => s3.client, s3.bucket),
        dir,
        stop: async () => {
          await s3.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    's3 (s3rver), offsite-verify: read-back',
    async () => {
      const s3: S3Server = await startS3('contract');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-store-s3-'));
      return {
        store: new S3Store(() => s3.client, s3.bucket, { verify: 'read-back' }),
        dir,
        stop: async () => {
          await s3.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'local directory',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-store-local-'));
      const root = path.join(dir, 'store');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(root);
      return {
        store: new LocalStore(root),
        dir,
        stop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
      };
    },
  ],
];

describe.each(subjects)('backup store contract: %s', (_name, make) => {
  let s: Subject;
  beforeAll(async () => {
    s = await make();
  });
  afterAll(async () => {
    await s.stop();
  });

  test('a staged put is invisible until completed, then proven, headed, read and listed', async () => {
    const data = Buffer.alloc(3 << 20, 7);
    data.write('the dump', 1000);
    await s.store.checkWritable(['p/a.dump', 'p/a.manifest.json']);
    const staging = s.store.stage('p/a.dump', sourceOf(data), { expectedBytes: data.length });
    staging.digest?.update(data);
    staging.digest?.finish();
    const staged = await staging.staged;
    expect(staged.sizeBytes).toBe(data.length);
    expect(await s.store.head('p/a.dump')).toBeUndefined();
    const localFile = path.join(s.dir, 'a.local');
    writeFileSync(localFile, data);
    const done = await staged.complete({ localFile, sha256: sha256(data), sizeBytes: data.length });
    expect(done.verified).toMatch(/sha256|ETag/);
    expect((await s.store.head('p/a.dump'))?.sizeBytes).toBe(data.length);
    expect(sha256(await readAll(s.store, 'p/a.dump'))).toBe(sha256(data));
    await s.store.putNew('p/a.manifest.json', '{"x":1}\n');
    expect((await readAll(s.store, 'p/a.manifest.json')).toString()).toBe('{"x":1}\n');
    expect((await s.store.list('p/')).map((o) => o.key)).toEqual(['p/a.dump', 'p/a.manifest.json']);
    expect((await s.store.list('p/a.m')).map((o) => o.key)).toEqual(['p/a.manifest.json']);
    expect(await s.store.list('nothing/')).toEqual([]);
  });

  test('nothing is ever overwritten', async () => {
    await s.store.putNew('q/m.json', 'first');
    await expect(s.store.putNew('q/m.json', 'second')).rejects.toThrow(/already exists|precondition/i);
    expect((await readAll(s.store, 'q/m.json')).toString()).toBe('first');
    await expect(s.store.checkWritable(['q/m.json'])).rejects.toThrow(/already exists/);
    await put(s, 'q/d.dump', Buffer.from('one'));
    await expect(put(s, 'q/d.dump', Buffer.from('two'))).rejects.toThrow(/already exists/);
    expect((await readAll(s.store, 'q/d.dump')).toString()).toBe('one');
  });

  test('an aborted put leaves no object', async () => {
    const staged = await s.store.stage('r/x.dump', sourceOf(Buffer.from('partial')), { expectedBytes: 7 })
      .staged;
    await staged.abort();
    expect(await s.store.head('r/x.dump')).toBeUndefined();
    expect(await s.store.list('r/')).toEqual([]);
  });

  test('a stored object that is not the bytes claimed fails its proof', async () => {
    await expect(
      put(s, 's/y.dump', Buffer.from('stored bytes'), Buffer.from('other bytes!')),
    ).rejects.toThrow(/not the dump's|digest/i);
  });

  test('a missing object: head says none, get fails naming it', async () => {
    expect(await s.store.head('t/none.dump')).toBeUndefined();
    await expect(s.store.get('t/none.dump')).rejects.toThrow(/Could not read .*t\/none\.dump/);
  });

  test('an object this run made can be removed again', async () => {
    await s.store.putNew('u/own.dump', 'mine');
    await s.store.removeOwn('u/own.dump');
    expect(await s.store.head('u/own.dump')).toBeUndefined();
  });
});

test('a local store refuses keys that leave its directory', () => {
  const store = new LocalStore('/srv/backups');
  for (const key of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', ''])
    expect(() => store.uriOf(key)).toThrow(/not a plain relative path/);
  expect(store.uriOf('prod/x.dump')).toBe('/srv/backups/prod/x.dump');
});
