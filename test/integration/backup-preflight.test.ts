import { existsSync, writeFileSync } from 'node:fs';

import { runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir, wrapperBinDir } from './backup-fixture';

let cluster: PostgresCluster;
const ODD_PASSWORD = 'b@ck:up/%41?#&=+ "x"';

beforeAll(async () => {
  cluster = await startPostgres('backup-preflight');
  await seedShop(cluster);
  await cluster.query(
    `CREATE ROLE backup_role LOGIN CREATEDB PASSWORD '${ODD_PASSWORD.replace(/'/g, "''")}'`,
  );
  await cluster.query('ALTER DATABASE shop OWNER TO backup_role; GRANT pg_read_all_data TO backup_role');
});
afterAll(async () => {
  await cluster?.stop();
});

test('a wrong database name: a clear error, nothing stopped', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shopp', 'backup_role', ODD_PASSWORD),
    'output-dir': out,
    ...hooks,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toContain('Cannot connect to backup_role@127.0.0.1:');
  expect(result.errors.join('\n')).toContain('database "shopp" does not exist');
  expect(existsSync(hooks.stopped) || existsSync(hooks.started)).toBe(false);
  expect(filesIn(out)).toEqual([]);
  expectNoSecret(result, ODD_PASSWORD);
});

test('client tools of another major are refused before any side effect', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const bin = wrapperBinDir(cluster.binDir);
  const fake = `${bin}/pg_dump`;
  writeFileSync(fake, '#!/bin/bash\necho "pg_dump (PostgreSQL) 13.4"\n');
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'pg-bin-dir': bin,
    ...hooks,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toContain(`No pg_dump/pg_restore/psql of PostgreSQL ${cluster.major}`);
  expect(result.errors.join('\n')).toContain('pg_dump (13.4)');
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
});

test.each([
  [{ compression: 'lz4' }, /Input "compression" is "lz4", but pg_dump 15 only compresses with gzip/],
  [{ compression: 'brotli' }, /Input "compression" must be auto, none, gzip\[:1-9\]/],
  [
    { 'protected-tables': 'orders, nope' },
    /Input "protected-tables" names tables that do not exist in shop: nope/,
  ],
  [{ 'protected-tables': 'orders; DROP TABLE x' }, /Input "protected-tables" must list tables/],
  [{ 's3-uri': 'https://bucket/x' }, /Input "s3-uri" must look like s3:\/\/bucket\/prefix\//],
  [{ verify: 'maybe' }, /Input "verify" must be one of read, restore/],
  [{ 'lock-wait-timeout': '-5s' }, /Input "lock-wait-timeout" must be a positive duration/],
  [{ 'code-ref': 'v1 $(rm -rf /)' }, /Input "code-ref" must be a git ref or sha/],
  [{ 'output-dir': '-rf' }, /Input "output-dir" is not a usable path/],
])('bad input %j is refused naming the input', async (extra, message) => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    ...hooks,
    ...extra,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(message);
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
});

test('a dedicated role whose password has URL-special characters: backup and snapshot, the password shown nowhere', async () => {
  const out = tempDir('out');
  const result = await runAction('backup', {
    'database-url': cluster.url('shop', 'backup_role', ODD_PASSWORD),
    'output-dir': out,
    snapshot: 'true',
    'protected-tables': 'orders',
  });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.outputs['snapshot-database']).toMatch(/^shop_snap_/);
  expectNoSecret(result, ODD_PASSWORD);
  expect(result.rawLogs).not.toContain(`${ODD_PASSWORD}@`);
});
