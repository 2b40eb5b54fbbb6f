import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { connectionFromUrl } from '../../src/postgres/connection';
import { acquireLock } from '../../src/postgres/lock';
import { ROOT, runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-leftovers'), startS3()]);
  await seedShop(cluster);
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

async function keys(): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

test('the manifest key taken during the run: the dump object is removed again, no backup-uri, the local backup kept', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  // The start-command runs once the dump has read the data, before the upload completes: it puts
  // another object at this backup's manifest key (found from the partial file's name).
  const script = path.join(tempDir('script'), 'take-key.js');
  writeFileSync(
    script,
    `const { S3Client, PutObjectCommand } = require(${JSON.stringify(path.join(ROOT, 'node_modules/@aws-sdk/client-s3'))});
     const fs = require('fs');
     const id = fs.readdirSync(${JSON.stringify(out)}).find((f) => f.endsWith('.dump.partial')).replace('.dump.partial', '');
     const c = new S3Client({ endpoint: ${JSON.stringify(s3.endpoint)}, region: 'us-east-1', forcePathStyle: true,
       requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
     c.send(new PutObjectCommand({ Bucket: ${JSON.stringify(s3.bucket)}, Key: 'prod/' + id + '.manifest.json', Body: 'someone else' }))
       .then(() => require('fs').writeFileSync(${JSON.stringify(hooks.started)}, ''));`,
  );
  const result = await runAction(
    'backup',
    {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      's3-uri': `s3://${s3.bucket}/prod/`,
      's3-endpoint': s3.endpoint,
      'stop-command': hooks['stop-command'],
      'start-command': `${process.execPath} ${script}`,
    },
    { env: s3.env },
  );
  const id = result.outputs['backup-id'] as string;
  expect(result.exitCode).toBe(1);
  expect(result.errors).toHaveLength(1);
  expect(result.errors[0]).toMatch(
    new RegExp(
      `Offsite copy failed: manifest upload failed: s3://backups/prod/${id}\\.manifest\\.json already exists.*; the dump object s3://backups/prod/${id}\\.dump was removed again .*The verified local backup is kept: `,
    ),
  );
  expect(result.outputs['backup-uri']).toBe('');
  expect(result.outputs['manifest-uri']).toBe('');
  expect(await keys()).not.toContain(`prod/${id}.dump`);
  const other = await s3.client.send(
    new GetObjectCommand({ Bucket: s3.bucket, Key: `prod/${id}.manifest.json` }),
  );
  expect(await (other.Body as { transformToString(): Promise<string> }).transformToString()).toBe(
    'someone else',
  );
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  expect(manifest.dump.uri).toBeUndefined();
  expect(await sha256File(result.outputs['backup-path'] as string)).toBe(manifest.dump.sha256);
  expect(filesIn(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
  expect(existsSync(hooks.started)).toBe(true);
  const lock = await acquireLock(connectionFromUrl(cluster.url('shop')), { holder: 'test' });
  await lock.release();
  expectNoSecret(result);
});

test("stale .partial files of earlier runs are removed; fresh ones, other files and others' files are kept", async () => {
  const out = tempDir('out');
  const old = new Date(Date.now() - 2 * 86_400_000);
  const stale = [
    'shop-20200101T000000Z-abcd.dump.partial',
    'shop-20200101T000000Z-abcd.manifest.json.partial',
    'shop-20200101T000000Z-abcd.background.json.partial',
  ];
  const kept = [
    'shop-20200101T000000Z-0123.dump',
    'notes.dump.partial',
    'shop.dump.partial',
    'shop-20200101T000000Z-abcd.background.log',
  ];
  for (const name of [...stale, ...kept]) {
    writeFileSync(path.join(out, name), 'x');
    utimesSync(path.join(out, name), old, old);
  }
  const fresh = 'shop-20200101T000000Z-beef.dump.partial';
  writeFileSync(path.join(out, fresh), 'x');
  const result = await runAction('backup', { 'database-url': cluster.url('shop'), 'output-dir': out });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  const left = filesIn(out);
  for (const name of stale) expect(left).not.toContain(name);
  for (const name of [...kept, fresh]) expect(left).toContain(name);
  expect(result.logs).toContain(
    `Removed ${path.join(out, stale[0] as string)}: a partial file an earlier run left`,
  );
});
