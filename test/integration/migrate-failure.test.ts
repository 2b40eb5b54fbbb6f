import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

import { useCluster } from '../harness/postgres';

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

const fx = useCluster('migrate-fail');

const hooks = ORDER_HOOKS;

test('a migration failing halfway stops the plan, leaves maintenance on and workers stopped, and reports applied vs pending', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      'working-directory': MINI,
      'django-manage': 'manage.py',
      python: PYTHON,
      steps: [
        'prepare: echo prepare >> "$MARK/order"',
        `migrate: echo migrate >> "$MARK/order"; MINI_FAIL=1 ${PYTHON} manage.py migrate --noinput`,
        'import: echo import >> "$MARK/order"',
      ].join('\n'),
      ...hooks,
    },
    mark,
  );
  expect(result.exitCode).toBe(1);
  // Nothing after the failing step ran: no later step, no start, no maintenance-off.
  expect(order(mark)).toEqual(['maintenance-on', 'stop', 'prepare', 'migrate']);

  expect(result.outputs.status).toBe('failed');
  expect(result.outputs['failed-step']).toBe('migrate');
  expect(result.outputs['rollback-recommended']).toBe('true');
  expect(result.outputs.maintenance).toBe('on');
  expect(stepsOf(result).map((s) => [s.name, s.status, s.exitCode])).toEqual([
    ['prepare', 'succeeded', 0],
    ['migrate', 'failed', 1],
    ['import', 'not-run', null],
  ]);
  expect(listOutput(result, 'applied-migrations')).toEqual(['shop.0001_initial', 'shop.0002_item_price']);
  expect(listOutput(result, 'pending-migrations')).toEqual(['shop.0003_fill_prices', 'shop.0004_item_stock']);

  const failure = result.errors.find((e) => e.includes('Step "migrate" failed'));
  expect(failure).toContain('exit code 1');
  expect(failure).toContain('Maintenance mode is still ON');
  expect(failure).toContain('Workers are still STOPPED');
  expect(result.summary).toContain('Migration window: ❌ failed');
  expect(result.summary).toContain('Maintenance mode is still ON');
  expect(result.summary).toContain('old code against a new schema');
  expect(result.summary).toContain('Still pending');
  expect(result.summary).toContain('shop.0003_fill_prices');
  expect(result.summary).toContain('step: import');
  expect(result.logs).toContain('0003_fill_prices failed on purpose');
  expectNoSecret(result);
});

test('a step past its timeout is killed, reported as timed out, and the plan stops there', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const tag = `${process.pid}${Date.now() % 100000}`;
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      'step-timeout': '1s',
      steps: [
        `slow: echo slow >> "$MARK/order"; sleep 9${tag}; echo late >> "$MARK/order"`,
        'next: echo next >> "$MARK/order"',
      ].join('\n'),
    },
    mark,
  );
  expect(result.exitCode).toBe(1);
  expect(order(mark)).toEqual(['slow']);
  expect(stepsOf(result).map((s) => [s.name, s.status])).toEqual([
    ['slow', 'timed-out'],
    ['next', 'not-run'],
  ]);
  expect(result.outputs['failed-step']).toBe('slow');
  expect(result.outputs['rollback-recommended']).toBe('true');
  expect(result.errors.join('\n')).toMatch(/Step "slow" timed-out: timed out after 1\.00s and was killed/);
  // The whole process group went: no `sleep` of this step is left behind.
  let survivors = '';
  try {
    survivors = execFileSync('pgrep', ['-f', `sleep 9${tag}`], { encoding: 'utf8' });
  } catch {
    survivors = '';
  }
  expect(survivors.trim()).toBe('');
  expectNoSecret(result);
});

test('a failing stop-command before any step: nothing is migrated, workers started again, maintenance turned off', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      steps: 'migrate: echo migrate >> "$MARK/order"',
      ...hooks,
      'stop-command': 'echo stop >> "$MARK/order"; exit 3',
    },
    mark,
  );
  expect(result.exitCode).toBe(1);
  expect(order(mark)).toEqual(['maintenance-on', 'stop', 'start', 'maintenance-off']);
  expect(result.outputs['failed-step']).toBe('stop');
  expect(result.outputs['rollback-recommended']).toBe('false');
  expect(result.outputs.maintenance).toBe('off');
  expect(stepsOf(result).map((s) => s.status)).toEqual(['not-run']);
  expect(result.errors.join('\n')).toContain('Hook "stop" failed: exit code 3');
  expectNoSecret(result);
});

test('a cancelled run (SIGTERM) is a failure: the step is stopped, maintenance stays on, the outputs say roll back', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      steps: [
        'long: touch "$MARK/started"; sleep 30; touch "$MARK/finished"',
        'after: touch "$MARK/after"',
      ].join('\n'),
      ...hooks,
    },
    mark,
    {
      onStart: (child) => {
        const timer = setInterval(() => {
          if (marker(mark, 'started')) {
            clearInterval(timer);
            child.kill('SIGTERM');
          }
        }, 50);
        child.on('close', () => clearInterval(timer));
      },
    },
  );
  expect(result.exitCode).toBe(143);
  expect(marker(mark, 'finished')).toBe(false);
  expect(marker(mark, 'after')).toBe(false);
  expect(order(mark)).toEqual(['maintenance-on', 'stop']);
  expect(result.outputs.status).toBe('failed');
  expect(result.outputs['failed-step']).toBe('long');
  expect(result.outputs['rollback-recommended']).toBe('true');
  expect(result.outputs.maintenance).toBe('on');
  expect(stepsOf(result).map((s) => [s.name, s.status])).toEqual([
    ['long', 'cancelled'],
    ['after', 'not-run'],
  ]);
  expect(result.summary).toContain('cancelled (SIGTERM)');
  expect(result.summary).toContain('Workers are still STOPPED');
  expectNoSecret(result);
});

test('a step whose working directory does not exist fails with that reason, not a spawn error', async () => {
  const db = await freshDatabase(fx.cluster);
  const mark = markerDir();
  const planFile = `${mark}/plan.yml`;
  writeFileSync(
    planFile,
    '- name: elsewhere\n  run: touch "$MARK/ran"\n  working-directory: test/not-there-yet\n',
  );
  const result = await runMigrate({ 'database-url': fx.cluster.url(db), 'plan-file': planFile }, mark);
  expect(result.exitCode).toBe(1);
  expect(marker(mark, 'ran')).toBe(false);
  expect(result.errors.join('\n')).toMatch(
    /Step "elsewhere" failed: working directory \S+test\/not-there-yet does not exist/,
  );
  expectNoSecret(result);
});
