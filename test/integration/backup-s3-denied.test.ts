import { existsSync } from 'node:fs';

import { ListObjectsV2Command } from '@aws-sdk/client-s3';

import { runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-denied'), startS3()]);
  await seedShop(cluster);
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

test('access denied by the store (unknown access key): refused before anything is stopped, the secret never shown', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const wrongSecret = 'not-the-S3RVER-secret/+=';
  const result = await runAction(
    'backup',
    {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      's3-uri': `s3://${s3.bucket}/prod/`,
      's3-endpoint': s3.endpoint,
      ...hooks,
    },
    { env: { ...s3.env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY', AWS_SECRET_ACCESS_KEY: wrongSecret } },
  );
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(
    /Offsite store s3:\/\/backups\/prod\/ is not usable: access denied: .*HTTP 403.*check the credentials/,
  );
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  expect(listed.Contents ?? []).toEqual([]);
  expect(result.logs).not.toContain(wrongSecret);
  expectNoSecret(result);
});
