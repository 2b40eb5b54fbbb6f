import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { runAction } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

describe('test harness', () => {
  let production: PostgresCluster;
  let staging: PostgresCluster;
  let s3: S3Server;

  beforeAll(async () => {
    [production, staging, s3] = await Promise.all([
      startPostgres('production'),
      startPostgres('staging'),
      startS3(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([production?.stop(), staging?.stop(), s3?.stop()]);
  });

  it('runs two clusters at once, each with its own data', async () => {
    expect(production.port).not.toBe(staging.port);
    await production.query('CREATE TABLE t (id int)');
    await production.query('INSERT INTO t SELECT generate_series(1, 10)');
    expect((await production.query<{ n: string }>('SELECT count(*) AS n FROM t'))[0]?.n).toBe('10');
    expect(await staging.query("SELECT to_regclass('t') AS t")).toEqual([{ t: null }]);
    const [version] = await staging.query<{ v: string }>('SHOW server_version_num');
    expect(
      Math.floor(
        Number(version?.v ?? (version as unknown as { server_version_num: string }).server_version_num) /
          10000,
      ),
    ).toBe(staging.major);
  });

  it('uploads and downloads 50 MB through s3rver with a multipart upload', async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const upload = new Upload({
      client: s3.client,
      params: { Bucket: s3.bucket, Key: 'harness/blob.bin', Body: Readable.from([data]) },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
    });
    const parts: number[] = [];
    upload.on('httpUploadProgress', (p) => parts.push(p.part ?? 0));
    const result = await upload.done();
    expect(result.ETag).toBeTruthy();
    const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'harness/blob.bin' }));
    const hash = createHash('sha256');
    for await (const chunk of got.Body as Readable) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // 50 MiB in 8 MiB parts: seven parts went up (s3rver's ETag is the whole object's md5, so the
    // part count is read from the upload's progress events, not from the ETag).
    expect(new Set(parts).size).toBe(7);
  });

  it('runs a bundled action as the runner does and reads back its outputs and summary', async () => {
    const r = await runAction('migrate', {
      'database-url': production.url('postgres'),
      steps: 'hello: echo "hello from a step"',
    });
    expect(r.exitCode).toBe(0);
    expect(r.outputs.status).toBe('succeeded');
    expect(r.logs).toContain('hello from a step');
    expect(r.summary).toContain('hello');
    expect(r.rawLogs).toContain('::add-mask::');
    for (const text of [r.logs, r.summary, JSON.stringify(r.outputs)]) {
      expect(text).not.toContain(SUPERUSER_PASSWORD);
      expect(text).not.toContain(encodeURIComponent(SUPERUSER_PASSWORD));
    }
  });
});
