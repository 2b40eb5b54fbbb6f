import { readManifestFile, type BackupManifest } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { fingerprintTables } from '../../src/postgres/fingerprint';
import { runAction, type ActionResult } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { expectNoSecret, seedShop, tempDir } from './backup-fixture';
import { resultsOf, writeChecks } from './validate-support';

let cluster: PostgresCluster;
const PROTECTED = ['public.orders', 'public.order_items'];

beforeAll(async () => {
  cluster = await startPostgres('backup-background-phases');
  await Promise.all([seedShop(cluster, 'shop', 5000), seedShop(cluster, 'cart', 5000)]);
});
afterAll(async () => {
  await cluster?.stop();
});

function fingerprints(db: string): ReturnType<typeof fingerprintTables> {
  return withClient(connectionFromUrl(cluster.url(db)), (c) => fingerprintTables(c, PROTECTED), {
    stableOutput: true,
  });
}

/** A migration's stand-in: the catalog changes, the protected tables do not. */
async function migrate(db: string): Promise<void> {
  await cluster.query(
    'ALTER TABLE products ADD COLUMN variant text; UPDATE products SET price = price + 1',
    db,
  );
}

async function migrated(db: string): Promise<boolean> {
  const rows = await cluster.query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'variant'`,
    db,
  );
  return rows.length > 0;
}

/** The production order: snapshot first, dump in the background, the migration meanwhile, then wait-for. */
async function backupAndMigrate(
  db: string,
): Promise<{ first: ActionResult; waited: ActionResult; manifestFile: string; manifest: BackupManifest }> {
  const out = tempDir('out');
  const first = await runAction('backup', {
    'database-url': cluster.url(db),
    'output-dir': out,
    'protected-tables': 'orders, order_items',
    snapshot: 'first',
    dump: 'background',
  });
  expect(first.outputs.status).toBe('running');
  await migrate(db);
  const waited = await runAction('backup', {
    'wait-for': first.outputs['backup-id'] as string,
    'output-dir': out,
  });
  expect(waited.errors).toEqual([]);
  const manifestFile = waited.outputs['manifest-path'] as string;
  const manifest = await readManifestFile(manifestFile);
  expect(manifest.database).toBe(db);
  expect(manifest.fingerprints).toEqual(await fingerprints(db));
  expectNoSecret(first);
  expectNoSecret(waited);
  return { first, waited, manifestFile, manifest };
}

test('validate (unchanged) and rollback (snapshot) take the manifest of a snapshot-first background backup as any other', async () => {
  const { first, manifestFile, manifest } = await backupAndMigrate('shop');
  const checks = writeChecks(
    'post:\n  - {id: protected, kind: unchanged, severity: critical, tables: [orders, order_items]}\n',
  );
  const validated = await runAction('validate', {
    'checks-file': checks,
    phase: 'post',
    'database-url': cluster.url('shop'),
    manifest: manifestFile,
  });
  expect(resultsOf(validated)[0]?.passed).toBe(true);
  expect(validated.outputs.verdict).toBe('pass');

  const rollback = await runAction('rollback', {
    'database-url': cluster.url('shop'),
    manifest: manifestFile,
    strategy: 'snapshot',
  });
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(rollback.outputs['restored-from']).toBe(`database ${first.outputs['snapshot-database']}`);
  expect(await fingerprints('shop')).toEqual(manifest.fingerprints);
  expect(await migrated('shop')).toBe(false);
  for (const r of [validated, rollback]) expectNoSecret(r);
});

test('rollback (swap) restores the dump of a snapshot-first background backup', async () => {
  const { waited, manifestFile, manifest } = await backupAndMigrate('cart');
  const rollback = await runAction('rollback', {
    'database-url': cluster.url('cart'),
    manifest: manifestFile,
    strategy: 'swap',
  });
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(rollback.outputs['restored-from']).toBe(waited.outputs['backup-path']);
  expect(await fingerprints('cart')).toEqual(manifest.fingerprints);
  expect(await migrated('cart')).toBe(false);
  expectNoSecret(rollback);
});
