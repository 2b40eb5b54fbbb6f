import { runAction } from '../harness/action';
import {
  databasesLike,
  fingerprintsOf,
  leakedSecret,
  makeBackup,
  migrateShop,
  seedShop,
} from '../harness/make-backup';
import { useCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const fx = useCluster('rollback-snapshot');

test('a snapshot that matches the manifest is swapped in without a restore', async () => {
  await seedShop(fx.cluster, 'shop');
  const backup = await makeBackup(fx.cluster, 'shop', {
    dir: fx.dir,
    protectedTables: PROTECTED,
    snapshot: true,
  });
  const snap = backup.manifest.snapshotDatabase!;
  expect(await databasesLike(fx.cluster, 'shop_snap_')).toEqual([snap]);
  await migrateShop(fx.cluster, 'shop');

  const result = await runAction('rollback', {
    'database-url': fx.cluster.url('shop'),
    manifest: backup.manifestFile,
    strategy: 'snapshot',
  });
  expect(result.errors).toEqual([]);
  expect(result.outputs.verdict).toBe('restored');
  expect(result.outputs['restored-from']).toBe(`database ${snap}`);
  const phases = JSON.parse(result.outputs['phases-json'] ?? '{}') as {
    phases: { name: string; status: string }[];
    downtime: number;
  };
  expect(phases.phases.find((p) => p.name === 'restore')?.status).toBe('skipped');
  expect(phases.downtime).toBeGreaterThanOrEqual(0);
  expect(await fingerprintsOf(fx.cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  // The snapshot became the live database; the migrated one is kept.
  expect(await databasesLike(fx.cluster, 'shop_')).toEqual([result.outputs['failed-database']]);
  expect(result.summary).toContain(result.outputs['failed-database']);
  expect(leakedSecret(result, fx.cluster.password)).toBe(false);
});

test('a snapshot that no longer matches is refused, or replaced by a restore from the dump with fallback-to-swap', async () => {
  await seedShop(fx.cluster, 'cart');
  const backup = await makeBackup(fx.cluster, 'cart', {
    dir: fx.dir,
    protectedTables: PROTECTED,
    snapshot: true,
  });
  const snap = backup.manifest.snapshotDatabase!;
  await fx.cluster.query('UPDATE orders SET total = total + 1 WHERE id = 7', snap);
  await migrateShop(fx.cluster, 'cart');
  const migrated = await fingerprintsOf(fx.cluster, 'cart', PROTECTED);
  const inputs = {
    'database-url': fx.cluster.url('cart'),
    manifest: backup.manifestFile,
    strategy: 'snapshot',
  };

  const refused = await runAction('rollback', inputs);
  expect(refused.exitCode).not.toBe(0);
  expect(refused.outputs.verdict).toBe('refused');
  expect(refused.errors.join('\n')).toMatch(
    new RegExp(
      `the snapshot "${snap}" does not match the manifest \\(public.orders: fingerprint content changed\\)`,
    ),
  );
  expect(await fingerprintsOf(fx.cluster, 'cart', PROTECTED)).toEqual(migrated);
  expect(await databasesLike(fx.cluster, 'cart_')).toEqual([snap]);

  const fallback = await runAction('rollback', { ...inputs, 'fallback-to-swap': 'true' });
  expect(fallback.errors).toEqual([]);
  expect(fallback.outputs.verdict).toBe('restored');
  expect(fallback.outputs['restored-from']).toBe(backup.dumpFile);
  expect(fallback.summary).toContain('Snapshot not usable');
  expect(await fingerprintsOf(fx.cluster, 'cart', PROTECTED)).toEqual(backup.manifest.fingerprints);
  // The mismatching snapshot is listed, never dropped silently.
  expect(await databasesLike(fx.cluster, 'cart_')).toEqual(
    [fallback.outputs['failed-database'], snap].sort(),
  );
  expect(fallback.summary).toContain(snap);
});
