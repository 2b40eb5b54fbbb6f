import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { SUPERUSER_PASSWORD, useCluster } from '../harness/postgres';

import {
  expectNoSecret,
  freshDatabase,
  listOutput,
  ORDER_HOOKS,
  marker,
  markerDir,
  MINI,
  order,
  PYTHON,
  runMigrate,
  stepsOf,
} from './migrate-support';

const fx = useCluster('migrate-ok');

const hooks = ORDER_HOOKS;

test('a plan that succeeds runs hooks and steps in order, applies the migrations and reports them', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      'working-directory': MINI,
      'django-manage': 'manage.py',
      python: PYTHON,
      'statement-timeout': '5m',
      steps: [
        '# the release',
        'prepare: echo prepare >> "$MARK/order"',
        `migrate: echo migrate >> "$MARK/order" && ${PYTHON} manage.py migrate --noinput`,
        'guards: psql -Atc "SHOW lock_timeout" -c "SHOW statement_timeout" > "$MARK/guards" && echo guards >> "$MARK/order"',
      ].join('\n'),
      ...hooks,
    },
    mark,
  );
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(order(mark)).toEqual([
    'maintenance-on',
    'stop',
    'prepare',
    'migrate',
    'guards',
    'start',
    'maintenance-off',
  ]);

  expect(result.outputs.status).toBe('succeeded');
  expect(result.outputs['failed-step']).toBe('');
  expect(result.outputs['rollback-recommended']).toBe('false');
  expect(result.outputs.maintenance).toBe('off');
  const steps = stepsOf(result);
  expect(steps.map((s) => [s.name, s.status, s.exitCode])).toEqual([
    ['prepare', 'succeeded', 0],
    ['migrate', 'succeeded', 0],
    ['guards', 'succeeded', 0],
  ]);
  expect(steps.every((s) => typeof s.seconds === 'number' && s.seconds >= 0)).toBe(true);
  const all = ['shop.0001_initial', 'shop.0002_item_price', 'shop.0003_fill_prices', 'shop.0004_item_stock'];
  expect(listOutput(result, 'applied-migrations')).toEqual(all);
  expect(listOutput(result, 'pending-migrations')).toEqual([]);

  // The session guards reached the steps' sessions through PGOPTIONS.
  expect(readFileSync(path.join(mark, 'guards'), 'utf8').trim().split('\n')).toEqual(['10s', '5min']);
  const rows = await fx.cluster.query<{ name: string }>('SELECT name FROM django_migrations ORDER BY id', db);
  expect(rows.map((r) => r.name)).toEqual(all.map((m) => m.slice('shop.'.length)));

  expect(result.logs).toContain('::group::Step 2/3: migrate');
  expect(result.logs).toMatch(/Step 2\/3: migrate: succeeded \(exit code 0 after [\d.]+s\)/);
  expect(result.summary).toContain('Migration window: ✅ succeeded');
  expect(result.summary).toContain('step: guards');
  expect(result.summary).toContain('```mermaid\ngantt');
  expect(result.summary).toContain('Applied during this run');
  expect(result.summary).toContain('shop.0004_item_stock');
  expect(result.summary).not.toContain('still ON');
  expect(result.summary).toContain('postgres@127.0.0.1');
  expectNoSecret(result);
});

test('a plan file passes env, working directory and timeouts; values reach the step as data, never as code', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const planFile = path.join(mark, 'plan.yml');
  const hostile = `$(touch ${mark}/pwned); \`touch ${mark}/pwned2\` "'; rm -rf /nonexistent`;
  writeFileSync(
    planFile,
    [
      'steps:',
      '  - name: write value',
      `    run: printf '%s' "$HOSTILE" > "$MARK/value"; pwd > "$MARK/cwd"`,
      '    working-directory: test/fixtures',
      '    timeout: 1m',
      '    env:',
      `      HOSTILE: ${JSON.stringify(hostile)}`,
      '      COUNT: 3',
      '  - name: count',
      '    run: echo "$COUNT" > "$MARK/count"',
      '    env: { COUNT: 7 }',
    ].join('\n'),
  );
  const result = await runMigrate({ 'database-url': fx.cluster.url(db), 'plan-file': planFile }, mark);
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(readFileSync(path.join(mark, 'value'), 'utf8')).toBe(hostile);
  expect(readFileSync(path.join(mark, 'cwd'), 'utf8').trim()).toMatch(/test\/fixtures$/);
  expect(readFileSync(path.join(mark, 'count'), 'utf8').trim()).toBe('7');
  expect(marker(mark, 'pwned')).toBe(false);
  expect(marker(mark, 'pwned2')).toBe(false);
  expect(stepsOf(result).map((s) => s.name)).toEqual(['write value', 'count']);
  // No Django project given: the migration outputs are empty lists, not guesses.
  expect(listOutput(result, 'applied-migrations')).toEqual([]);
  expectNoSecret(result);
});

test('a step that echoes DATABASE_URL and PGPASSWORD has its output scrubbed', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      steps: [
        'leak: echo "url=$DATABASE_URL"; echo "pw=$PGPASSWORD"; echo "err=$PGPASSWORD" >&2',
        'use it: psql "$DATABASE_URL" -Atc "SELECT current_database()" > "$MARK/db"',
        'names: env | cut -d= -f1 > "$MARK/names"',
      ].join('\n'),
    },
    mark,
  );
  expect(result.exitCode).toBe(0);
  // The step really had the secret (it connected with it) and printed it, but the log shows ***.
  expect(readFileSync(path.join(mark, 'db'), 'utf8').trim()).toBe(db);
  expect(result.logs).toContain('url=***');
  expect(result.logs).toContain('pw=***');
  expect(result.logs).toContain('err=***');
  expect(result.logs).not.toContain(SUPERUSER_PASSWORD);
  // The commands get the database by DATABASE_URL and PG*, not the action's own INPUT_* variables.
  const names = readFileSync(path.join(mark, 'names'), 'utf8').split('\n');
  expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'PGPASSWORD', 'PGOPTIONS', 'MARK']));
  expect(names.filter((n) => n.startsWith('INPUT_'))).toEqual([]);
  expectNoSecret(result);
});
