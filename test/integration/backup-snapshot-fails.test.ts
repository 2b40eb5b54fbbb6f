import { existsSync } from 'node:fs';

import pg from 'pg';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { connectionFromUrl } from '../../src/postgres/connection';
import { acquireLock } from '../../src/postgres/lock';
import { runAction } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;
const PASSWORD = 'own:er@/%#?&= x';

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-snapshot-fails'), startS3()]);
  // A managed-database shape: the backup role owns the database and may create databases, but is
  // no superuser, so it may not end a superuser's session.
  await cluster.query(`CREATE ROLE owner LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
  await cluster.query('CREATE DATABASE shop OWNER owner');
  await cluster.query(
    `SET ROLE owner;
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2));
     INSERT INTO orders (customer, total) SELECT 'c' || g, g * 1.5 FROM generate_series(1, 5000) g;`,
    'shop',
  );
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

test('a snapshot that fails after a good dump: the verified backup is kept and reported, the run fails loudly', async () => {
  // A superuser's session on the database: the snapshot must end it, and the role may not.
  const admin = new pg.Client({
    host: cluster.host,
    port: cluster.port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    database: 'shop',
  });
  await admin.connect();
  admin.on('error', () => undefined);
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  try {
    const result = await runAction(
      'backup',
      {
        'database-url': cluster.url('shop', 'owner', PASSWORD),
        'output-dir': out,
        'protected-tables': 'orders',
        's3-uri': `s3://${s3.bucket}/prod/`,
        's3-endpoint': s3.endpoint,
        snapshot: 'true',
        ...hooks,
      },
      { env: s3.env },
    );
    expect(result.exitCode).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(
      /Snapshot database failed: .*terminate.*\. The verified local backup is kept: .*\.dump \(sha256 [0-9a-f]{64}\)/,
    );
    const dump = result.outputs['backup-path'] as string;
    const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
    expect(await sha256File(dump)).toBe(manifest.dump.sha256);
    expect(manifest.snapshotDatabase).toBeUndefined();
    expect(manifest.rowCounts['public.orders']).toBe(5000);
    expect(result.outputs['snapshot-database']).toBe('');
    expect(result.outputs['backup-uri']).toBe(`s3://${s3.bucket}/prod/${result.outputs['backup-id']}.dump`);
    expect(result.outputs.status).toBe('failed');
    expect(result.summary).toMatch(/<td>Snapshot<\/td><td>❌ failed/);
    expect(filesIn(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(existsSync(hooks.started)).toBe(true);
    expect(result.summary).toContain('started again');
    expectNoSecret(result, PASSWORD);
    expectNoSecret(result);
    const snaps = await cluster.query(`SELECT datname FROM pg_database WHERE datname LIKE 'shop_snap_%'`);
    expect(snaps).toEqual([]);
    const allowed = await cluster.query<{ datallowconn: boolean }>(
      `SELECT datallowconn FROM pg_database WHERE datname = 'shop'`,
    );
    expect(allowed[0]?.datallowconn).toBe(true);
    const lock = await acquireLock(connectionFromUrl(cluster.url('shop')), { holder: 'test' });
    await lock.release();
  } finally {
    await admin.end().catch(() => undefined);
  }
});
