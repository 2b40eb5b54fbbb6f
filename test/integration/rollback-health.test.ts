import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
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
import { freePort, startPostgres, type PostgresCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
let cluster: PostgresCluster;
let dir: string;

beforeAll(async () => {
  cluster = await startPostgres('rollback-health');
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-rollback-health-'));
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function appInputs(database: string, manifest: string, events: string): Record<string, string> {
  return {
    'database-url': cluster.url(database),
    manifest,
    'app-dir': dir,
    'stop-command': `echo stop >> ${events}`,
    'start-command': `echo start >> ${events}`,
    'revert-command': `echo revert >> ${events}`,
  };
}

test('a failing health check: verdict unhealthy, app stopped again, migrated database kept, swap-back statements shown', async () => {
  await seedShop(cluster, 'shop');
  const backup = await makeBackup(cluster, 'shop', { dir, protectedTables: PROTECTED });
  await migrateShop(cluster, 'shop');
  const events = path.join(dir, 'shop-events');
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
  expect(await databasesLike(cluster, 'shop_')).toEqual([failed]);
  expect(result.summary).toContain('How to swap back');
  expect(result.summary).toContain(`ALTER DATABASE "${failed}" RENAME TO "shop";`);
  expect(result.summary).toContain('maintenance stays on');
  expect(result.errors.join('\n')).toMatch(/Health check failed after the rollback/);
  expect(await fingerprintsOf(cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(leakedSecret(result, cluster.password)).toBe(false);
});

test('a health URL answering 200 after the start gives verdict restored', async () => {
  await seedShop(cluster, 'api');
  const backup = await makeBackup(cluster, 'api', { dir, protectedTables: PROTECTED });
  await migrateShop(cluster, 'api');
  const events = path.join(dir, 'api-events');
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
