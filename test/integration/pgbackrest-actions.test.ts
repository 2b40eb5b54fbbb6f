import { existsSync, readFileSync } from 'node:fs';

import { runAction } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

// The bundles run as root here, as the other action tests do: what touches the cluster (pgbackrest,
// pg_ctl) runs as the data directory's owner, as it would with a runner on the database host.
let c: PgBackRestCluster;

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-actions');
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
     INSERT INTO orders (total) SELECT g FROM generate_series(1, 3000) g;`,
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

test('backup with engine pgbackrest, then rollback with strategy pitr: writes after the point are gone', async () => {
  const backup = await runAction('backup', {
    'database-url': c.url('shop'),
    engine: 'pgbackrest',
    'pgbackrest-stanza': c.stanza,
    'pgbackrest-config': c.config,
    'pgbackrest-backup-type': 'incr',
    'protected-tables': 'orders',
    'output-dir': `${c.root}/manifests`,
  });
  expect(backup.errors).toEqual([]);
  expect(backup.exitCode).toBe(0);
  expect(backup.outputs.status).toBe('verified');
  const manifest = JSON.parse(readFileSync(backup.outputs['manifest-path']!, 'utf8')) as Record<
    string,
    unknown
  >;
  expect(manifest).toMatchObject({
    format: 2,
    engine: 'pgbackrest',
    database: 'shop',
    databases: ['postgres', 'shop'],
  });
  expect(backup.summary).toMatch(/✅ Recovery point \S+ of shop: restore point \S+ archived in stanza main/);
  expect(backup.logs).not.toContain('p@ss');

  await c.query('DELETE FROM orders WHERE id > 10; CREATE TABLE migrated (x int);', 'shop');
  const rollback = await runAction('rollback', {
    'database-url': c.url('shop'),
    manifest: backup.outputs['manifest-path']!,
    strategy: 'pitr',
    pgdata: c.dataDir,
    'side-port': String(await freePort()),
  });
  expect(rollback.errors).toEqual([]);
  expect(rollback.exitCode).toBe(0);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(Number(rollback.outputs['downtime-seconds'])).toBeGreaterThan(0);
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 3000 });
  expect(await c.query("SELECT 1 FROM pg_class WHERE relname = 'migrated'", 'shop')).toEqual([]);
  expect(existsSync(`${c.dataDir}.before-${backup.outputs['backup-id']}`)).toBe(true);
  expect(rollback.logs).not.toContain('p@ss');
});

test('rollback pitr without pgdata: refused before anything', async () => {
  const r = await runAction('rollback', {
    'database-url': c.url('shop'),
    manifest: `${c.root}/nope.json`,
    strategy: 'pitr',
  });
  expect(r.exitCode).not.toBe(0);
  expect(r.outputs.verdict).toBe('refused');
  expect(r.logs).toContain('Input required and not supplied: pgdata');
});
