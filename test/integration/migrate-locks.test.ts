import { writeFileSync } from 'node:fs';

import pg from 'pg';

import { startPostgres, SUPERUSER_PASSWORD, type PostgresCluster } from '../harness/postgres';

import { expectNoSecret, freshDatabase, marker, markerDir, runMigrate, stepsOf } from './migrate-support';

let cluster: PostgresCluster;

beforeAll(async () => {
  cluster = await startPostgres('migrate-locks');
});

afterAll(async () => {
  await cluster?.stop();
});

test('DDL blocked by a lock held elsewhere fails with "lock timeout" instead of queueing', async () => {
  const db = await freshDatabase(cluster);
  await cluster.query('CREATE TABLE x (id int)', db);
  const holder = new pg.Client({
    host: '127.0.0.1',
    port: cluster.port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    database: db,
  });
  await holder.connect();
  const mark = markerDir();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE x IN ACCESS EXCLUSIVE MODE');
    const result = await runMigrate(
      {
        'database-url': cluster.url(db),
        'lock-timeout': '1s',
        // Without the lock timeout the step would wait for the lock; this ends the test cleanly then.
        'step-timeout': '30s',
        steps: [
          "alter: psql -v ON_ERROR_STOP=1 -c 'ALTER TABLE x ADD COLUMN y int'",
          'after: touch "$MARK/after"',
        ].join('\n'),
      },
      mark,
    );
    expect(result.exitCode).toBe(1);
    expect(result.logs).toContain('lock timeout');
    expect(result.outputs['failed-step']).toBe('alter');
    expect(stepsOf(result).map((s) => s.status)).toEqual(['failed', 'not-run']);
    expect(marker(mark, 'after')).toBe(false);
    expectNoSecret(result);
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
  const columns = await cluster.query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = 'x' AND column_name = 'y'`,
    db,
  );
  expect(columns).toEqual([]);
});

test('two runs at once: the second fails fast naming the holder and runs nothing', async () => {
  const db = await freshDatabase(cluster);
  const first = markerDir();
  const second = markerDir();
  const steps = [
    'wait: touch "$MARK/started"; for i in $(seq 1 200); do [ -e "$MARK/release" ] && break; sleep 0.05; done',
    'done: touch "$MARK/done"',
  ].join('\n');
  const running = runMigrate({ 'database-url': cluster.url(db), steps }, first);
  for (let i = 0; i < 400 && !marker(first, 'started'); i++) await new Promise((r) => setTimeout(r, 25));
  expect(marker(first, 'started')).toBe(true);

  const blocked = await runMigrate(
    {
      'database-url': cluster.url(db),
      steps,
      'maintenance-on-command': 'touch "$MARK/on"',
      'maintenance-off-command': 'touch "$MARK/off"',
    },
    second,
  );
  // Let the first run finish only now, so the two surely overlapped.
  writeFileSync(`${first}/release`, '');
  const finished = await running;

  expect(blocked.exitCode).toBe(1);
  const message = blocked.errors.join('\n');
  expect(message).toContain(`Another run is working on database "${db}"`);
  expect(message).toContain('migrate run 4242.1 by octocat');
  for (const name of ['started', 'on', 'off', 'done']) expect(marker(second, name)).toBe(false);
  expect(blocked.outputs.status).toBe('failed');
  expect(blocked.outputs['rollback-recommended']).toBe('false');
  expect(blocked.outputs.maintenance).toBe('off');
  expectNoSecret(blocked);

  expect(finished.exitCode).toBe(0);
  expect(marker(first, 'done')).toBe(true);
  expectNoSecret(finished);
});
