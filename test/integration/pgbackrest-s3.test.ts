import path from 'node:path';

import { PgBackRest, userFor } from '../../src/pgbackrest/command';
import { takeRecoveryPoint } from '../../src/pgbackrest/recovery-point';
import { checkPitr, cutOverPitr, preparePitr } from '../../src/pgbackrest/rollback';
import { connectionFromUrl } from '../../src/postgres/connection';
import {
  startPgBackRestCluster,
  startTlsS3,
  type PgBackRestCluster,
  type S3Repository,
} from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

let s3: S3Repository & { stop(): Promise<void> };
let c: PgBackRestCluster;

beforeAll(async () => {
  s3 = await startTlsS3();
  c = await startPgBackRestCluster('pgbr-s3', { s3 });
  await c.query('CREATE DATABASE shop');
  await c.query(
    'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000);',
    'shop',
  );
}, 180_000);

afterAll(async () => {
  await c?.stop();
  await s3?.stop();
});

test('an S3 repository (s3rver over TLS): recovery point, then point-in-time restore and cut-over', async () => {
  const connection = connectionFromUrl(c.url('shop'));
  const pgbr = new PgBackRest({ stanza: c.stanza, config: c.config, user: await userFor(c.dataDir) });
  const m = await takeRecoveryPoint({
    connection,
    pgbr,
    name: 'shop-20260101T000000Z-5353',
    backupType: 'none',
    protectedTables: ['orders'],
    archiveTimeoutMs: 60_000,
  });
  await c.query('DELETE FROM orders WHERE id > 1', 'shop');
  const o = {
    connection,
    pgbr,
    manifest: m,
    pgdata: c.dataDir,
    sideDir: path.join(c.root, 'side'),
    sidePort: await freePort(),
    binDir: c.binDir,
    owner: await userFor(c.dataDir),
    scope: 'database' as const,
    recoveryTimeoutMs: 120_000,
    healthTimeoutMs: 60_000,
  };
  const plan = await checkPitr(o);
  if (plan.kind !== 'fresh') throw new Error(plan.kind);
  await preparePitr(o, plan);
  await cutOverPitr(o, plan.state);
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 1000 });
});
