import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { runAction } from '../harness/action';
import {
  databasesLike,
  fingerprintsOf,
  leakedSecret,
  makeBackup,
  migrateShop,
  seedShop,
} from '../harness/make-backup';
import { freePort, useCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const fx = useCluster('rollback-health');

function appInputs(database: string, manifest: string, events: string): Record<string, string> {
  return {
    'database-url': fx.cluster.url(database),
    manifest,
    'app-dir': fx.dir,
    'stop-command': `echo stop >> ${events}`,
    'start-command': `echo start >> ${events}`,
    'revert-command': `echo revert >> ${events}`,
  };
}

test('a failing health check: verdict unhealthy, app stopped again, migrated database kept, swap-back statements shown', async () => {
  await seedShop(fx.cluster, 'shop');
  const backup = await makeBackup(fx.cluster, 'shop', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'shop');
  const events = path.join(fx.dir, 'shop-events');
  const closed = await freePort();

  const result = await runAction('rollback', {
    ...appInputs('shop', backup.manifestFile, events),
    'health-urls': `http://127.0.0.1:${closed}/health/`,
    'health-timeout': '3s',
  });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('unhealthy');
  expect(readFileSync(events, 'utf8').split('\n').filter(Boolean)).toEqual([
    'stop',
    'revert',
    'start',
    'stop',
  ]);
  const failed = result.outputs['failed-database'] ?? '';
  expect(await databasesLike(fx.cluster, 'shop_')).toEqual([failed]);
  expect(result.summary).toContain('How to swap back');
  expect(result.summary).toContain(`ALTER DATABASE "${failed}" RENAME TO "shop";`);
  expect(result.summary).toContain('maintenance stays on');
  expect(result.errors.join('\n')).toMatch(/Health check failed after the rollback/);
  expect(await fingerprintsOf(fx.cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(leakedSecret(result, fx.cluster.password)).toBe(false);
});

test('a health URL answering 200 after the start gives verdict restored', async () => {
  await seedShop(fx.cluster, 'api');
  const backup = await makeBackup(fx.cluster, 'api', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'api');
  const events = path.join(fx.dir, 'api-events');
  let calls = 0;
  const server = http.createServer((_req, res) => {
    calls += 1;
    // Not ready on the first poll, healthy after: the action must keep polling.
    res.writeHead(calls > 1 && existsSync(events) ? 200 : 503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const result = await runAction('rollback', {
      ...appInputs('api', backup.manifestFile, events),
      'health-urls': `http://127.0.0.1:${port}/api/products/\nhttp://127.0.0.1:${port}/api/categories/`,
      'health-timeout': '30s',
    });
    expect(result.errors).toEqual([]);
    expect(result.outputs.verdict).toBe('restored');
    expect(readFileSync(events, 'utf8').split('\n').filter(Boolean)).toEqual(['stop', 'revert', 'start']);
    expect(calls).toBeGreaterThan(1);
  } finally {
    server.close();
  }
});
