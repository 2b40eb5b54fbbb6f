import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { listArchive, restoreDump } from '../../src/postgres/restore';
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
  expect(result.summary).toMatch(/checks began when the data was loaded, \d+\.\d s before the end/);
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

test('the restore tells when every table holds its data, before indexes and constraints are done', async () => {
  await seedShop(cluster, 'early', 3000);
  const backup = await makeBackup(cluster, 'early', { dir, protectedTables: PROTECTED });
  const tools = await discoverTools(cluster.major, { binDir: cluster.binDir });
  const listing = await listArchive(tools, backup.dumpFile);
  expect(listing.tableData.length).toBe(Object.keys(backup.manifest.rowCounts).length);
  await cluster.query('CREATE DATABASE early_side');
  const seen: Record<string, number>[] = [];
  let reads: Promise<void> | undefined;
  await restoreDump(tools, settingsFor(cluster, 'early_side'), 'early_side', backup.dumpFile, {
    jobs: 2,
    keepOwners: true,
    dataLoaded: {
      tableData: listing.tableData,
      then: () => {
        // Read every table at that moment, while pg_restore goes on.
        reads = (async () => {
          const counts: Record<string, number> = {};
          for (const table of Object.keys(backup.manifest.rowCounts)) {
            const [r] = await cluster.query<{ n: string }>(
              `SELECT count(*)::text AS n FROM ${table}`,
              'early_side',
            );
            counts[table] = Number(r?.n);
          }
          seen.push(counts);
        })();
      },
    },
  });
  await reads;
  expect(seen).toEqual([backup.manifest.rowCounts]);
  // With one job pg_restore reports no finished items: nothing is announced early.
  await cluster.query('CREATE DATABASE early_serial');
  let called = false;
  await restoreDump(tools, settingsFor(cluster, 'early_serial'), 'early_serial', backup.dumpFile, {
    jobs: 1,
    keepOwners: true,
    dataLoaded: { tableData: listing.tableData, then: () => (called = true) },
  });
  expect(called).toBe(false);
});
