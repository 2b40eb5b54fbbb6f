import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { BackupManifest } from '../../src/manifest';
import { dumpLocationFor, fetchDump } from '../../src/storage/download';
import { parseLocation } from '../../src/storage/stores';

const manifest = { dump: { file: 'shop-20250101T020304Z-ab12.dump', sizeBytes: 5 } } as BackupManifest;

describe('backup locations', () => {
  test('local paths and s3 URIs', () => {
    expect(parseLocation('s3://backups/prod/x.manifest.json', 'manifest')).toEqual({
      kind: 's3',
      bucket: 'backups',
      key: 'prod/x.manifest.json',
    });
    expect(parseLocation('rel/x.manifest.json', 'manifest')).toEqual({
      kind: 'local',
      path: path.resolve('rel/x.manifest.json'),
    });
    expect(() => parseLocation('https://example.com/x', 'manifest')).toThrow(
      /Input "manifest" must be a local path or an s3:\/\/ URI/,
    );
    expect(() => parseLocation('s3://backups/prod/', 'manifest')).toThrow(/must name an object/);
    expect(() => parseLocation('s3://backups/../etc/x', 'manifest')).toThrow(/unsafe key/);
  });

  test('the dump is beside the manifest', () => {
    expect(dumpLocationFor({ kind: 's3', bucket: 'b', key: 'prod/x.manifest.json' }, manifest)).toEqual({
      kind: 's3',
      bucket: 'b',
      key: 'prod/shop-20250101T020304Z-ab12.dump',
    });
    expect(dumpLocationFor({ kind: 's3', bucket: 'b', key: 'x.manifest.json' }, manifest)).toEqual({
      kind: 's3',
      bucket: 'b',
      key: 'shop-20250101T020304Z-ab12.dump',
    });
    expect(dumpLocationFor({ kind: 'local', path: '/backups/x.manifest.json' }, manifest)).toEqual({
      kind: 'local',
      path: '/backups/shop-20250101T020304Z-ab12.dump',
    });
  });

  test('a local dump is hashed in place; a missing one is refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-download-'));
    try {
      const file = path.join(dir, manifest.dump.file);
      writeFileSync(file, 'hello');
      const s3 = (): never => {
        throw new Error('no S3 here');
      };
      const got = await fetchDump({ kind: 'local', path: file }, manifest, { tempDir: dir, s3 });
      expect(got).toEqual({
        file,
        sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
        bytes: 5,
        downloaded: false,
      });
      await expect(
        fetchDump({ kind: 'local', path: `${file}.gone` }, manifest, { tempDir: dir, s3 }),
      ).rejects.toThrow(/does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
