import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { GetObjectCommand } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { countRows, fingerprintTables, listTables } from '../../src/postgres/fingerprint';
import { runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-happy'), startS3()]);
  await seedShop(cluster);
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

async function objectSha256(key: string): Promise<string> {
  const r = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of r.Body as Readable) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

test('a backup with offsite copy and snapshot database leaves evidence that re-verifies', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction(
    'backup',
    {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      's3-uri': `s3://${s3.bucket}/prod/`,
      's3-endpoint': s3.endpoint,
      'protected-tables': 'orders, public.order_items\nproducts',
      'code-ref': 'v1.4.2',
      snapshot: 'true',
      'stop-command': hooks['stop-command'],
      'start-command': hooks['start-command'],
    },
    { env: s3.env },
  );
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  const o = result.outputs;
  expect(o['backup-id']).toMatch(/^shop-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  expect(o['backup-path']).toBe(path.join(out, `${o['backup-id']}.dump`));
  expect(o['manifest-path']).toBe(path.join(out, `${o['backup-id']}.manifest.json`));
  expect(o['backup-uri']).toBe(`s3://${s3.bucket}/prod/${o['backup-id']}.dump`);
  expect(o['manifest-uri']).toBe(`s3://${s3.bucket}/prod/${o['backup-id']}.manifest.json`);
  expect(Number(o['size-bytes'])).toBe(statSync(o['backup-path'] as string).size);
  expect(Number(o['duration-seconds'])).toBeGreaterThan(0);
  expect(statSync(o['backup-path'] as string).mode & 0o777).toBe(0o600);
  expect(filesIn(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
  expect(existsSync(hooks.stopped) && existsSync(hooks.started)).toBe(true);

  const manifest = await readManifestFile(o['manifest-path'] as string);
  expect(await sha256File(o['backup-path'] as string)).toBe(manifest.dump.sha256);
  expect(o.sha256).toBe(manifest.dump.sha256);
  expect(await objectSha256(`prod/${o['backup-id']}.dump`)).toBe(manifest.dump.sha256);
  expect(manifest.dump.uri).toBe(o['backup-uri']);
  expect(manifest.dump.compression).toBe('gzip:1');
  expect(manifest.codeRef).toBe('v1.4.2');
  expect(manifest.djangoMigrations?.map((m) => m.name)).toEqual([
    '0001_initial',
    '0001_initial',
    '0002_variants',
  ]);
  expect(manifest.snapshotDatabase).toBe(o['snapshot-database']);
  expect(o['snapshot-database']).toMatch(/^shop_snap_\d{8}t\d{6}z_[0-9a-f]{4}$/);

  const tables = ['public.orders', 'public.order_items', 'public.products'];
  const source = await withClient(
    connectionFromUrl(cluster.url('shop')),
    async (c) => ({
      counts: await countRows(c, await listTables(c)),
      prints: await fingerprintTables(c, tables),
    }),
    { stableOutput: true },
  );
  expect(manifest.rowCounts).toEqual(source.counts);
  expect(manifest.rowCounts['public.order_items']).toBe(4000);
  expect(manifest.fingerprints).toEqual(source.prints);
  const snapshot = await withClient(
    connectionFromUrl(cluster.url(o['snapshot-database'])),
    (c) => fingerprintTables(c, tables),
    {
      stableOutput: true,
    },
  );
  expect(snapshot).toEqual(source.prints);
  const allowed = await cluster.query<{ datallowconn: boolean }>(
    `SELECT datallowconn FROM pg_database WHERE datname = 'shop'`,
  );
  expect(allowed[0]?.datallowconn).toBe(true);

  // Counts and fingerprints came from the dump stream; the one-part object is proven by its ETag.
  expect(result.summary).toMatch(/tables counted, 3 fingerprinted from the dump stream/);
  expect(result.summary).toMatch(/1 part\(s\), ETag [0-9a-f]{32} equals the dump's part digests/);
  expect(result.summary).toContain('writes after');
  expect(result.summary).toContain(manifest.fingerprints[0]?.hash as string);
  expect(result.summary).toContain('started again');
  expectNoSecret(result);
});

test('verify: restore proves the dump in a scratch database and drops it', async () => {
  const out = tempDir('out');
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    verify: 'restore',
    compression: 'none',
  });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.summary).toMatch(
    /restored into shop_verify_\d{8}t\d{6}z_[0-9a-f]{4}: 4 tables, row counts equal/,
  );
  const left = await cluster.query(`SELECT datname FROM pg_database WHERE datname LIKE 'shop_verify_%'`);
  expect(left).toEqual([]);
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  expect(manifest.dump.compression).toBe('none');
  expect(result.outputs['backup-uri']).toBe('');
  expectNoSecret(result);
});
