import { existsSync, readFileSync } from 'node:fs';

import { PgBackRest, userFor } from '../../src/pgbackrest/command';
import { takeRecoveryPoint } from '../../src/pgbackrest/recovery-point';
import { checkPitr, cutOverPitr, preparePitr, type PitrRollbackOptions } from '../../src/pgbackrest/rollback';
import { statePathFor } from '../../src/pgbackrest/state';
import { connectionFromUrl } from '../../src/postgres/connection';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

let c: PgBackRestCluster;

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-engine');
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
     INSERT INTO orders (total) SELECT g * 1.5 FROM generate_series(1, 5000) g;
     CREATE TABLE products (id int PRIMARY KEY, name text);
     INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 300) g;`,
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

async function pgbr(): Promise<PgBackRest> {
  return new PgBackRest({ stanza: c.stanza, config: c.config, user: await userFor(c.dataDir) });
}

test('a recovery point: restore point archived, evidence at the point, the backup it builds on', async () => {
  const phases: string[] = [];
  const m = await takeRecoveryPoint({
    connection: connectionFromUrl(c.url('shop')),
    pgbr: await pgbr(),
    name: 'shop-20260101T000000Z-abcd',
    backupType: 'incr',
    protectedTables: ['public.orders'],
    archiveTimeoutMs: 60_000,
    onPhase: (p) => phases.push(p),
  });
  expect(phases).toEqual(['preflight', 'backup', 'restore-point', 'archived']);
  expect(m.engine).toBe('pgbackrest');
  expect(m.pgbackrest.backupTaken).toBe(m.pgbackrest.backupLabel);
  expect(m.pgbackrest.backupType).toBe('incr');
  expect(m.rowCounts).toEqual({ 'public.orders': 5000, 'public.products': 300 });
  expect(m.fingerprints.map((f) => f.table)).toEqual(['public.orders']);
  expect(m.databases).toEqual(['postgres', 'shop']);
  const [sys] = await c.query<{ id: string }>(
    'SELECT system_identifier::text AS id FROM pg_control_system()',
  );
  expect(m.server.systemIdentifier).toBe(sys?.id);
  const [archived] = await c.query<{ w: string }>('SELECT last_archived_wal AS w FROM pg_stat_archiver');
  expect(archived!.w >= m.restorePoint.segment).toBe(true);
  const listing = c.pgbackrest(
    `repo-ls`,
    `archive/${c.stanza}/${m.pgbackrest.archiveId}/${m.restorePoint.segment.slice(0, 16)}`,
  );
  expect(listing).toContain(`${m.restorePoint.segment}-`);
});

test('pitr: the side is restored to the point, proven, and put in place; the live directory is kept', async () => {
  const connection = connectionFromUrl(c.url('shop'));
  const m = await takeRecoveryPoint({
    connection,
    pgbr: await pgbr(),
    name: 'shop-20260101T000001Z-0001',
    backupType: 'none',
    protectedTables: ['public.orders', 'public.products'],
    archiveTimeoutMs: 60_000,
  });
  // The migration: writes after the point, which the rollback must take away.
  await c.query('DELETE FROM products WHERE id > 100; INSERT INTO orders (total) VALUES (1), (2);', 'shop');
  await c.query('CREATE TABLE after_point (x int)', 'shop');
  const options: PitrRollbackOptions = {
    connection,
    pgbr: await pgbr(),
    manifest: m,
    pgdata: c.dataDir,
    sideDir: `${c.dataDir}.side`,
    sidePort: await freePort(),
    binDir: c.binDir,
    owner: await userFor(c.dataDir),
    scope: 'database',
    recoveryTimeoutMs: 120_000,
    healthTimeoutMs: 60_000,
  };
  const plan = await checkPitr(options);
  if (plan.kind !== 'fresh') throw new Error(`unexpected plan ${plan.kind}`);
  expect(plan.delta).toBe(false);
  expect(plan.repository).toContain(m.pgbackrest.backupLabel);
  const proof = await preparePitr(options, plan);
  expect(proof.problems).toEqual([]);
  // Proving touched nothing live.
  expect((await c.query('SELECT count(*)::int AS n FROM products', 'shop'))[0]).toEqual({ n: 100 });
  const result = await cutOverPitr(options, plan.state);
  expect(result.resumed).toEqual([]);
  expect((await c.query('SELECT count(*)::int AS n FROM products', 'shop'))[0]).toEqual({ n: 300 });
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 5000 });
  expect(await c.query("SELECT 1 FROM pg_class WHERE relname = 'after_point'", 'shop')).toEqual([]);
  expect(existsSync(plan.state.aside)).toBe(true);
  expect(existsSync(plan.state.side)).toBe(false);
  expect(JSON.parse(readFileSync(statePathFor(c.dataDir), 'utf8'))).toMatchObject({
    phase: 'done',
    backupId: m.backupId,
  });
  // A second run with the same manifest finds it done and changes nothing.
  expect((await checkPitr(options)).kind).toBe('done');
  // The restored cluster archives again (its new timeline) in place.
  c.pgbackrest('check');
});
