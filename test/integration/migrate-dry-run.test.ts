import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

import { startPostgres, type PostgresCluster } from '../harness/postgres';

import {
  expectNoSecret,
  freshDatabase,
  listOutput,
  markerDir,
  MINI,
  MINI_DIR,
  PYTHON,
  runMigrate,
  stepsOf,
} from './migrate-support';

let cluster: PostgresCluster;
let db: string;

beforeAll(async () => {
  cluster = await startPostgres('migrate-dry');
  db = await freshDatabase(cluster);
  // The database is one release behind: 0001 and 0002 applied, 0003 and 0004 pending.
  execFileSync(PYTHON, ['manage.py', 'migrate', 'shop', '0002', '--noinput'], {
    cwd: MINI_DIR,
    env: { ...process.env, DATABASE_URL: cluster.url(db) },
    stdio: 'ignore',
  });
});

afterAll(async () => {
  await cluster?.stop();
});

async function applied(): Promise<string[]> {
  const rows = await cluster.query<{ app: string; name: string }>(
    'SELECT app, name FROM django_migrations ORDER BY id',
    db,
  );
  return rows.map((r) => `${r.app}.${r.name}`);
}

test('a dry run prints the plan and the pending migrations, and changes nothing', async () => {
  const before = await applied();
  expect(before).toEqual(['shop.0001_initial', 'shop.0002_item_price']);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': cluster.url(db),
      'working-directory': MINI,
      'django-manage': 'manage.py',
      python: PYTHON,
      'dry-run': 'true',
      steps: [
        `migrate: touch "$MARK/migrate"; ${PYTHON} manage.py migrate --noinput`,
        'import: touch "$MARK/import"',
      ].join('\n'),
      'maintenance-on-command': 'touch "$MARK/on"',
      'maintenance-off-command': 'touch "$MARK/off"',
      'stop-command': 'touch "$MARK/stop"',
      'start-command': 'touch "$MARK/start"',
    },
    mark,
  );
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(readdirSync(mark)).toEqual([]);
  expect(await applied()).toEqual(before);

  expect(result.outputs.status).toBe('dry-run');
  expect(result.outputs['rollback-recommended']).toBe('false');
  expect(result.outputs.maintenance).toBe('off');
  expect(listOutput(result, 'applied-migrations')).toEqual([]);
  expect(listOutput(result, 'pending-migrations')).toEqual(['shop.0003_fill_prices', 'shop.0004_item_stock']);
  expect(stepsOf(result).map((s) => [s.name, s.status])).toEqual([
    ['migrate', 'not-run'],
    ['import', 'not-run'],
  ]);

  expect(result.logs).toContain('Dry run: nothing will be run');
  expect(result.logs).toContain('1. migrate');
  expect(result.logs).toContain('shop.0003_fill_prices: Raw Python operation');
  expect(result.summary).toContain('dry run (nothing was run)');
  expect(result.summary).toContain('step: import');
  expect(result.summary).toContain('maintenance-on');
  expect(result.summary).toContain('shop.0004_item_stock');
  expect(result.summary).not.toContain('shop.0002_item_price');
  expectNoSecret(result);
});
