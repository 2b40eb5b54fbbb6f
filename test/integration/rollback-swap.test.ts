import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { DatabaseChecker, listArchive, restoreDump, tableDataIds } from '../../src/postgres/restore';
import { discoverTools } from '../../src/postgres/tools';
import { runAction } from '../harness/action';
import {
  databasesLike,
  fingerprintsOf,
  leakedSecret,
  makeBackup,
  migrateShop,
  seedShop,
  settingsFor,
} from '../harness/make-backup';
import { startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

const PROTECTED = ['public.orders', 'public.order_items'];
let cluster: PostgresCluster;
let s3: S3Server;
let dir: string;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('rollback-swap'), startS3()]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-rollback-swap-'));
});

afterAll(async () => {
  await cluster?.stop();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function inputs(
  database: string,
  manifest: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    'database-url': cluster.url(database),
    manifest,
    's3-endpoint': s3.endpoint,
    'checksum-mode': 'when-required',
    ...extra,
  };
}

async function holdConnection(database: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.url(database), application_name: 'shop-web' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

test('a rollback after a real migration brings every row and column back and keeps the migrated database', async () => {
  await seedShop(cluster, 'shop');
  const backup = await makeBackup(cluster, 'shop', {
    dir,
    protectedTables: PROTECTED,
    s3: { server: s3, prefix: 'prod/' },
  });
  await migrateShop(cluster, 'shop');
  expect(await fingerprintsOf(cluster, 'shop', PROTECTED)).not.toEqual(backup.manifest.fingerprints);
  const web = await holdConnection('shop');

  const result = await runAction('rollback', inputs('shop', backup.manifestUri!), { env: s3.env });
  await web.end().catch(() => undefined);

  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.outputs.verdict).toBe('restored');
  expect(await fingerprintsOf(cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  const columns = await cluster.query<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'products' ORDER BY ordinal_position",
    'shop',
  );
  expect(columns.map((c) => c.column_name)).toEqual(['id', 'slug', 'retail_price', 'stock_quantity']);
  for (const [table, rows] of Object.entries(backup.manifest.rowCounts)) {
    const [r] = await cluster.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`, 'shop');
    expect([table, Number(r?.n)]).toEqual([table, rows]);
  }
  // The migrated database is kept, whole, under its own name.
  const failed = result.outputs['failed-database'] ?? '';
  expect(failed).toMatch(/^shop_failed_\d{8}t\d{6}z_[0-9a-f]{4}$/);
  expect(await databasesLike(cluster, 'shop_')).toEqual([failed]);
  await cluster.query(`ALTER DATABASE "${failed}" ALLOW_CONNECTIONS true`);
  const migrated = await cluster.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM orders WHERE customer LIKE 'new%'",
    failed,
  );
  expect(migrated[0]?.n).toBe('25');
  // The session on the live database was terminated and logged.
  expect(result.logs).toMatch(/Terminating session on "shop": pid \d+ user postgres application "shop-web"/);
  expect(result.summary).toContain('Sessions terminated at the swap');
  // Timeline, downtime, kept databases.
  const phases = JSON.parse(result.outputs['phases-json'] ?? '{}') as {
    phases: { name: string; status: string }[];
    downtime: number;
  };
  expect(phases.phases.map((p) => p.name)).toEqual([
    'verify',
    'restore',
    'checks',
    'stop',
    'swap',
    'revert',
    'start',
    'health',
  ]);
  expect(phases.phases.find((p) => p.name === 'swap')?.status).toBe('ok');
  expect(typeof phases.downtime).toBe('number');
  expect(Number(result.outputs['rto-seconds'])).toBeGreaterThan(0);
  expect(result.outputs['restored-from']).toBe(`s3://${s3.bucket}/${backup.dumpKey}`);
  expect(result.summary).toContain('Kept databases');
  expect(result.summary).toContain(failed);
  // The checks read the side database while pg_restore still built its indexes and constraints.
  // Every table of the shop is a plain one: each was checked as soon as its data was in.
  const early =
    /checks began as the data came in \((\d+) table\(s\) at once\), all of them \d+\.\d s before the end/.exec(
      result.summary,
    );
  expect(Number(early?.[1])).toBe(Object.keys(backup.manifest.rowCounts).length);
  expect(leakedSecret(result, cluster.password)).toBe(false);
});

test('with terminate-sessions false, a connected session makes the swap refused and nothing changes', async () => {
  await seedShop(cluster, 'busy');
  const backup = await makeBackup(cluster, 'busy', { dir, protectedTables: PROTECTED });
  await migrateShop(cluster, 'busy');
  const before = await fingerprintsOf(cluster, 'busy', PROTECTED);
  const web = await holdConnection('busy');
  const events = path.join(dir, 'busy-events');
  try {
    const result = await runAction(
      'rollback',
      inputs('busy', backup.manifestFile, {
        'terminate-sessions': 'false',
        'stop-command': `echo stop >> ${events}`,
        'start-command': `echo start >> ${events}`,
      }),
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    expect(result.errors.join('\n')).toMatch(
      /session\(s\) still connected to "busy".*shop-web.*terminate-sessions is false/,
    );
    expect((await web.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
    // Stopped for the swap, started again when the swap was refused (old code, old database).
    expect(readFileSync(events, 'utf8').split('\n').filter(Boolean)).toEqual(['stop', 'start']);
    expect(result.summary).not.toContain('application is stopped');
    expect(await fingerprintsOf(cluster, 'busy', PROTECTED)).toEqual(before);
    expect(await databasesLike(cluster, 'busy_')).toEqual([]);
    const [allow] = await cluster.query<{ a: boolean }>(
      "SELECT datallowconn AS a FROM pg_database WHERE datname = 'busy'",
    );
    expect(allow?.a).toBe(true);
    expect(leakedSecret(result, cluster.password)).toBe(false);
  } finally {
    await web.end();
  }
});

test('the restore tells as each table holds its data, and when all do, before indexes and constraints are done', async () => {
  await seedShop(cluster, 'early', 3000);
  const backup = await makeBackup(cluster, 'early', { dir, protectedTables: PROTECTED });
  const tools = await discoverTools(cluster.major, { binDir: cluster.binDir });
  const listing = await listArchive(tools, backup.dumpFile);
  const tables = Object.keys(backup.manifest.rowCounts);
  expect(listing.tableData.length).toBe(tables.length);
  const ids = tableDataIds(listing, tables);
  expect([...ids.values()].sort()).toEqual([...tables].sort());
  await cluster.query('CREATE DATABASE early_side');
  const count = async (table: string): Promise<number> => {
    const [r] = await cluster.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`, 'early_side');
    return Number(r?.n);
  };
  // What each table holds when it is reported loaded, and every table when all are.
  const reads: Promise<[string, number]>[] = [];
  let all: Promise<number[]> | undefined;
  let allCalls = 0;
  await restoreDump(tools, settingsFor(cluster, 'early_side'), 'early_side', backup.dumpFile, {
    jobs: 2,
    keepOwners: true,
    progress: {
      tableData: listing.tableData.map((e) => e.id),
      table: (id) => {
        const table = ids.get(id) as string;
        reads.push(count(table).then((n) => [table, n]));
      },
      all: () => {
        allCalls++;
        all = Promise.all(tables.map(count));
      },
    },
  });
  expect(Object.fromEntries(await Promise.all(reads))).toEqual(backup.manifest.rowCounts);
  expect(allCalls).toBe(1);
  expect(await all).toEqual(tables.map((t) => backup.manifest.rowCounts[t]));
  // With one job pg_restore reports no finished items: nothing is announced early.
  await cluster.query('CREATE DATABASE early_serial');
  let called = false;
  await restoreDump(tools, settingsFor(cluster, 'early_serial'), 'early_serial', backup.dumpFile, {
    jobs: 1,
    keepOwners: true,
    progress: { tableData: listing.tableData.map((e) => e.id), all: () => (called = true) },
  });
  expect(called).toBe(false);
});

test('an early check reads only plain tables at once; the others wait for finish(), and a difference is found either way', async () => {
  await cluster.query('CREATE DATABASE kinds');
  await cluster.query(
    `CREATE TABLE parent (id int, note text);
     CREATE TABLE child (extra int) INHERITS (parent);
     CREATE TABLE plain (id int PRIMARY KEY, note text);
     INSERT INTO parent SELECT g, md5(g::text) FROM generate_series(1, 50) g;
     INSERT INTO child SELECT g, md5(g::text), g FROM generate_series(51, 80) g;
     INSERT INTO plain SELECT g, md5(g::text) FROM generate_series(1, 40) g;`,
    'kinds',
  );
  const backup = await makeBackup(cluster, 'kinds', {
    dir,
    protectedTables: ['public.parent', 'public.plain'],
  });
  const manifest = structuredClone(backup.manifest);
  const plain = manifest.fingerprints.find((f) => f.table === 'public.plain');
  if (!plain) throw new Error('no fingerprint of public.plain');
  plain.hash = '0'.repeat(64);
  const checker = new DatabaseChecker(settingsFor(cluster, 'kinds'), 'kinds', manifest);
  checker.early('public.plain');
  checker.early('public.parent');
  checker.early('public.not_in_the_manifest');
  const result = await checker.finish();
  expect(checker.checkedEarly).toBe(1);
  expect(result.fingerprintDiffs.map((d) => [d.table, d.reason])).toEqual([
    ['public.plain', 'content changed'],
  ]);
  expect(result.countDiffs).toEqual([]);
  // Every table was read: the parent (80 rows with its child) matches its fingerprint.
  const again = await new DatabaseChecker(settingsFor(cluster, 'kinds'), 'kinds', backup.manifest).finish();
  expect(again.fingerprintDiffs).toEqual([]);
  expect(again.tables).toBe(Object.keys(backup.manifest.rowCounts).length - 2);
});
