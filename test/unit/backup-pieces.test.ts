import { createHash } from 'node:crypto';

import { buildBackupId, compactUtc } from '../../src/actions/backup/names';
import { recoveryPoint } from '../../src/actions/backup/report';
import { estimateDumpBytes } from '../../src/postgres/backup-preflight';
import { compareRowCounts } from '../../src/postgres/backup-verify';
import { compressionArgs, parseCompression } from '../../src/postgres/dump';
import { backupShortId, databaseNameFor, dbnameArg } from '../../src/postgres/side-names';
import { choosePartSize, isMd5ETag, MAX_PARTS, MultipartDigest } from '../../src/storage/s3/upload';

const MIB = 1024 * 1024;

describe('choosePartSize', () => {
  test.each([0, 1, 40 * MIB, 870 * MIB, 50 * 1024 * MIB, 2 * 1024 * 1024 * MIB])(
    'fits four times %d bytes in 10,000 parts',
    (bytes) => {
      const size = choosePartSize(bytes);
      expect(size % MIB).toBe(0);
      expect(size).toBeGreaterThanOrEqual(8 * MIB);
      expect(size).toBeLessThanOrEqual(5 * 1024 * MIB);
      if (bytes * 4 <= MAX_PARTS * 5 * 1024 * MIB) expect(size * MAX_PARTS).toBeGreaterThanOrEqual(bytes * 4);
    },
  );
  test('small dumps use the minimum part', () => expect(choosePartSize(100 * MIB)).toBe(8 * MIB));
  test('100 GiB gets 41 MiB parts', () => expect(choosePartSize(100 * 1024 * MIB)).toBe(41 * MIB));
});

describe('names', () => {
  const date = new Date('2024-05-01T02:03:04.567Z');
  test('backup id', () => {
    expect(compactUtc(date)).toBe('20240501T020304Z');
    expect(buildBackupId('freesport', date, 'ab12')).toBe('freesport-20240501T020304Z-ab12');
    expect(buildBackupId('../my db', date, 'ab12')).toBe('_my_db-20240501T020304Z-ab12');
    expect(buildBackupId('-x', date, '0000')).toBe('x-20240501T020304Z-0000');
    expect(buildBackupId('x'.repeat(100), date, '0000')).toHaveLength(40 + 22);
    expect(buildBackupId('freesport', date)).toMatch(/^freesport-20240501T020304Z-[0-9a-f]{4}$/);
  });
  test('the snapshot and scratch databases are named like the side databases of a rollback', () => {
    const short = backupShortId('shop-20240501T020304Z-ab12');
    expect(databaseNameFor('shop', 'snap', short)).toBe('shop_snap_20240501t020304z_ab12');
    expect(databaseNameFor('my-db', 'verify', short)).toBe('my-db_verify_20240501t020304z_ab12');
    expect(dbnameArg("a=b'c")).toBe("--dbname=dbname='a=b\\'c'");
  });
});

describe('compression', () => {
  test('parsing', () => {
    expect(parseCompression('auto')).toEqual({ method: 'auto' });
    expect(parseCompression('gzip:6')).toEqual({ method: 'gzip', level: 6 });
    expect(parseCompression('zstd:22')).toEqual({ method: 'zstd', level: 22 });
    expect(parseCompression('gzip:10')).toBeUndefined();
    expect(parseCompression('none:1')).toBeUndefined();
    expect(parseCompression('brotli')).toBeUndefined();
  });
  test('flag by client major', () => {
    expect(compressionArgs({ method: 'auto' }, 15)).toEqual({ args: ['--compress=1'], label: 'gzip:1' });
    // gzip:1 everywhere: the archive reader inflates it (lz4/zstd would mean a second read of the tables).
    expect(compressionArgs({ method: 'auto' }, 16)).toEqual({ args: ['--compress=gzip:1'], label: 'gzip:1' });
    expect(compressionArgs({ method: 'auto' }, 17)).toEqual({ args: ['--compress=gzip:1'], label: 'gzip:1' });
    expect(compressionArgs({ method: 'none' }, 15)).toEqual({ args: ['--compress=0'], label: 'none' });
    expect(compressionArgs({ method: 'gzip', level: 4 }, 15)).toEqual({
      args: ['--compress=4'],
      label: 'gzip:4',
    });
    expect(compressionArgs({ method: 'gzip' }, 15)).toEqual({ args: ['--compress=6'], label: 'gzip:6' });
    expect(compressionArgs({ method: 'zstd', level: 3 }, 16)).toEqual({
      args: ['--compress=zstd:3'],
      label: 'zstd:3',
    });
    expect(() => compressionArgs({ method: 'lz4' }, 15)).toThrow(
      /Input "compression" is "lz4", but pg_dump 15/,
    );
  });
});

test('estimate, row-count comparison and recovery point', () => {
  expect(estimateDumpBytes(1000, true)).toBe(600);
  expect(estimateDumpBytes(1000, false)).toBe(1200);
  expect(
    compareRowCounts({ 'public.a': 1, 'public.b': 2 }, { 'public.a': 1, 'public.b': 3, 'public.c': 0 }),
  ).toEqual(['public.b: 2 rows recorded, 3 restored', 'public.c: not in the source']);
  expect(recoveryPoint('2024-05-01T02:03:04.567Z')).toBe(
    'writes after 02:03:04 UTC (2024-05-01) are not in this backup',
  );
});

describe('multipart ETag from the stream', () => {
  const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
  const data = Buffer.from(Array.from({ length: 25 }, (_, i) => `line ${i}\n`).join(''));
  test('parts at part-size boundaries in any chunking; S3 form md5-of-digests-N', () => {
    const d = new MultipartDigest(64);
    for (let i = 0; i < data.length; i += 7) d.update(data.subarray(i, i + 7));
    d.finish();
    const parts = [0, 64, 128, 192].map((at) => data.subarray(at, at + 64)).filter((p) => p.length > 0);
    expect(d.parts).toBe(parts.length);
    parts.forEach((p, i) => expect(d.part(i + 1)).toEqual(md5(p)));
    expect(d.eTag()).toBe(
      `${createHash('md5')
        .update(Buffer.concat(parts.map(md5)))
        .digest('hex')}-${parts.length}`,
    );
  });
  test('one part: the plain md5 of the object', () => {
    const d = new MultipartDigest(1024);
    d.update(data);
    d.finish();
    expect(d.eTag()).toBe(md5(data).toString('hex'));
    const empty = new MultipartDigest(1024);
    empty.finish();
    expect(empty.eTag()).toBe(md5(Buffer.alloc(0)).toString('hex'));
  });
  test('only an ETag of the same form proves anything', () => {
    const multi = `${'a'.repeat(32)}-3`;
    expect(isMd5ETag(`"${'b'.repeat(32)}-3"`, multi)).toBe(true);
    expect(isMd5ETag(`"${'b'.repeat(32)}"`, multi)).toBe(false);
    expect(isMd5ETag(`"${'b'.repeat(32)}"`, 'a'.repeat(32))).toBe(true);
    expect(isMd5ETag('"kms-opaque-value"', 'a'.repeat(32))).toBe(false);
    expect(isMd5ETag(undefined, 'a'.repeat(32))).toBe(false);
  });
});
