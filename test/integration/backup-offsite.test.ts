import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { createS3Client } from '../../src/storage/s3/client';
import { checkOffsiteWritable, putNew } from '../../src/storage/s3/upload';
import { runAction } from '../harness/action';
import { freePort, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-offsite'), startS3()]);
  await seedShop(cluster);
  // ~20 MB of incompressible text: with compression none the dump takes three 8 MiB parts.
  await cluster.query(
    `CREATE TABLE blobs AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS body
       FROM generate_series(1, 200000) g`,
    'shop',
  );
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

function inputs(out: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    's3-uri': `s3://${s3.bucket}/prod`,
    's3-endpoint': s3.endpoint,
    ...extra,
  };
}

async function keys(): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

/** A TCP proxy to s3rver in a process of its own, so a stop-command can cut the store off mid-run. */
async function startProxy(): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const target = Number(new URL(s3.endpoint).port);
  const code = `const net=require('net');net.createServer(c=>{const u=net.connect(${target},'127.0.0.1');c.pipe(u);u.pipe(c);u.on('error',()=>c.destroy());c.on('error',()=>u.destroy());}).listen(${port},'127.0.0.1',()=>console.log('up'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout?.once('data', resolve));
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

test('a dump of several parts is uploaded as multipart; a whole-object md5 ETag is checked against the file', async () => {
  const out = tempDir('out');
  const result = await runAction(
    'backup',
    inputs(out, { compression: 'none', 'checksum-mode': 'when-required' }),
    { env: s3.env },
  );
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  // s3rver's multipart ETag is the md5 of the whole object, not one derived from the part digests:
  // compared with the md5 of the local file, it proves the same without a download.
  const local = readFileSync(result.outputs['backup-path'] as string);
  const md5 = createHash('md5').update(local).digest('hex');
  expect(result.summary).toContain(`3 part(s), ETag ${md5} equals the md5 of the whole dump`);
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  expect(manifest.dump.sizeBytes).toBeGreaterThan(16 * 1024 * 1024);
  expect(await sha256File(result.outputs['backup-path'] as string)).toBe(manifest.dump.sha256);
  const key = `prod/${result.outputs['backup-id']}.manifest.json`;
  const stored = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  expect(
    JSON.parse(await (stored.Body as { transformToString(): Promise<string> }).transformToString()),
  ).toEqual(manifest);
  expectNoSecret(result);
});

test('offsite-verify: read-back downloads the object and compares its sha256', async () => {
  const out = tempDir('out');
  const result = await runAction('backup', inputs(out, { 'offsite-verify': 'read-back' }), { env: s3.env });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.summary).toMatch(/part\(s\), read back and sha256 equal/);
  expect(result.summary).not.toMatch(/derived from the part digests|ETag [0-9a-f]{32}/);
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  const stored = await s3.client.send(
    new GetObjectCommand({ Bucket: s3.bucket, Key: `prod/${result.outputs['backup-id']}.dump` }),
  );
  const bytes = Buffer.from(
    await (stored.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.dump.sha256);
});

test('S3 unreachable from the start: refused before anything is stopped or written', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const closed = `http://127.0.0.1:${await freePort()}`;
  const result = await runAction('backup', inputs(out, { 's3-endpoint': closed, ...hooks }), { env: s3.env });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(
    /Offsite store s3:\/\/backups\/prod\/ is not usable: .*Nothing was stopped/,
  );
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
  expectNoSecret(result);
});

test('offsite: optional with S3 unreachable: a local backup and a warning', async () => {
  const out = tempDir('out');
  const closed = `http://127.0.0.1:${await freePort()}`;
  const result = await runAction('backup', inputs(out, { 's3-endpoint': closed, offsite: 'optional' }), {
    env: s3.env,
  });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.logs).toMatch(
    /::warning title=Offsite copy failed \(offsite is optional\)::s3:\/\/backups\/prod\/ is not usable/,
  );
  expect(result.outputs['backup-uri']).toBe('');
  expect(existsSync(result.outputs['backup-path'] as string)).toBe(true);
  expect(existsSync(result.outputs['manifest-path'] as string)).toBe(true);
  expect(result.summary).toContain('FAILED');
});

test('S3 lost during the run: the verified local backup is kept and reported, the run fails, services restarted', async () => {
  const out = tempDir('out');
  const proxy = await startProxy();
  const hooks = markerHooks(tempDir('hooks'));
  const before = await keys();
  const result = await runAction(
    'backup',
    inputs(out, {
      's3-endpoint': proxy.endpoint,
      'stop-command': `kill ${proxy.child.pid}`,
      'start-command': hooks['start-command'],
    }),
    { env: s3.env },
  );
  proxy.child.kill();
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(
    /Offsite copy failed: .*The verified local backup is kept: .*\.dump \(sha256 [0-9a-f]{64}\)/,
  );
  const dump = result.outputs['backup-path'] as string;
  expect(path.dirname(dump)).toBe(out);
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  expect(await sha256File(dump)).toBe(manifest.dump.sha256);
  expect(manifest.dump.uri).toBeUndefined();
  expect(result.outputs['backup-uri']).toBe('');
  expect(existsSync(hooks.started)).toBe(true);
  expect(await keys()).toEqual(before);
  expectNoSecret(result);
});

test('an existing key is never overwritten', async () => {
  const client = createS3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    checksumMode: 'when-required',
  });
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'keep/x.dump', Body: 'precious' }));
  await expect(
    checkOffsiteWritable(client, s3.bucket, ['keep/x.dump', 'keep/x.manifest.json']),
  ).rejects.toThrow('s3://backups/keep/x.dump already exists; a backup is never overwritten.');
  await expect(putNew(client, s3.bucket, 'keep/x.dump', 'replacement')).rejects.toThrow(/already exists/);
  const kept = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'keep/x.dump' }));
  expect(await (kept.Body as { transformToString(): Promise<string> }).transformToString()).toBe('precious');
  client.destroy();
});
