import { existsSync, readFileSync } from 'node:fs';

import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { acquireLock } from '../../src/postgres/lock';
import { runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir, wrapperBinDir } from './backup-fixture';

let cluster: PostgresCluster;

beforeAll(async () => {
  cluster = await startPostgres('backup-faults');
  await seedShop(cluster, 'shop', 20000);
});
afterAll(async () => {
  await cluster?.stop();
});

/** Nothing with a final name, no manifest, no partial file. */
function expectNoBackup(out: string): void {
  expect(filesIn(out)).toEqual([]);
}

test.each([
  ['cut short with exit code 0 (a lying pipe)', '"$REAL" "$@" | head -c 20000'],
  ['killed by SIGKILL midway', '"$REAL" "$@" | head -c 20000; kill -KILL $$'],
])('pg_dump %s: no backup is left and the start-command ran', async (_name, body) => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'pg-bin-dir': wrapperBinDir(cluster.binDir, body),
    ...hooks,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(
    /The archive does not read back whole|pg_dump failed: pg_dump --format=custom was killed by SIGKILL/,
  );
  expectNoBackup(out);
  expect(existsSync(hooks.stopped)).toBe(true);
  expect(existsSync(hooks.started)).toBe(true);
  expect(result.outputs['backup-path']).toBeUndefined();
  expect(result.summary).toContain('started again');
  expectNoSecret(result);
});

describe('an archive with large objects (data the stream reader does not inflate)', () => {
  beforeAll(async () => {
    await cluster.query('CREATE DATABASE withlo');
    await cluster.query(
      `CREATE TABLE notes (id int PRIMARY KEY, body text);
       INSERT INTO notes SELECT g, md5(g::text) FROM generate_series(1, 500) g;
       SELECT lo_from_bytea(0, convert_to(string_agg(md5(g::text), ''), 'UTF8')) FROM generate_series(1, 400) g;`,
      'withlo',
    );
  });

  test('is read whole by pg_restore before it is trusted', async () => {
    const out = tempDir('out');
    const result = await runAction('backup', {
      'database-url': cluster.url('withlo'),
      'output-dir': out,
      'protected-tables': 'notes',
    });
    expect(result.errors).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.summary).toContain('read whole by pg_restore');
    expect(result.summary).not.toContain('read whole as it streamed');
    const manifest = JSON.parse(readFileSync(result.outputs['manifest-path'] as string, 'utf8')) as {
      rowCounts: Record<string, number>;
    };
    expect(manifest.rowCounts['public.notes']).toBe(500);
  });

  test('a byte changed inside a large object is caught, nothing is kept, and the workers are started again', async () => {
    const out = tempDir('out');
    const hooks = markerHooks(tempDir('hooks'));
    // pg_dump exits 0, but one byte near the end of the stream (inside the last large object's
    // compressed data, before the block terminators) is flipped on its way out.
    const flip = `import sys; b = bytearray(sys.stdin.buffer.read()); b[-40] ^= 0xff; sys.stdout.buffer.write(b)`;
    const result = await runAction('backup', {
      'database-url': cluster.url('withlo'),
      'output-dir': out,
      'pg-bin-dir': wrapperBinDir(cluster.binDir, `"$REAL" "$@" | /usr/bin/python3 -c "${flip}"`),
      ...hooks,
    });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toMatch(/The archive does not read back whole: .*pg_restore/);
    expectNoBackup(out);
    expect(existsSync(hooks.stopped)).toBe(true);
    expect(existsSync(hooks.started)).toBe(true);
    expect(result.summary).toContain('started again');
    expectNoSecret(result);
  });
});

test('a role that may not read a table: a clear refusal before anything is stopped', async () => {
  const password = 'r3ad:er@/%#?&= x';
  await cluster.query(`CREATE ROLE reader LOGIN PASSWORD '${password}'`);
  await cluster.query(
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO reader',
    'shop',
  );
  await cluster.query('REVOKE SELECT ON order_items FROM reader', 'shop');
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop', 'reader', password),
    'output-dir': out,
    ...hooks,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(
    /Role "reader" may not read 1 relation\(s\) of shop: public\.order_items/,
  );
  expect(existsSync(hooks.stopped)).toBe(false);
  expectNoBackup(out);
  expectNoSecret(result, password);
});

test('a failing stop-command still runs the start-command', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'stop-command': 'echo stopping celery; exit 3',
    'start-command': hooks['start-command'],
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toContain(
    'stop-command failed: echo stopping celery; exit 3 exited with code 3',
  );
  expect(existsSync(hooks.started)).toBe(true);
  expect(result.summary).toContain('started again');
  expectNoBackup(out);
});

test('a stop-command past hook-timeout is killed, and the start-command still runs', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'stop-command': 'sleep 300',
    'start-command': hooks['start-command'],
    'hook-timeout': '1s',
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(/stop-command timed out after \d+s/);
  expect(existsSync(hooks.started)).toBe(true);
  expectNoBackup(out);
});

test('two runs at once: the second fails fast, naming the holder, and stops nothing', async () => {
  const lock = await acquireLock(connectionFromUrl(cluster.url('shop')), {
    holder: 'migrate run 77 by alice',
  });
  try {
    const out = tempDir('out');
    const hooks = markerHooks(tempDir('hooks'));
    const result = await runAction('backup', {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      ...hooks,
    });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toMatch(
      /Another run is working on database "shop": the migration-guard lock is held by "migration-guard: migrate run 77 by alice"/,
    );
    expect(existsSync(hooks.stopped)).toBe(false);
    expectNoBackup(out);
  } finally {
    await lock.release();
  }
});

test('SIGTERM during the dump: the start-command runs, no backup is left', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  // The dump writes some bytes, then stalls until the run is cancelled.
  const slow = '"$REAL" "$@" | { head -c 5000; sleep 60; cat; }';
  const result = await runAction(
    'backup',
    {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      'pg-bin-dir': wrapperBinDir(cluster.binDir, slow),
      ...hooks,
    },
    {
      onStart: (child) => {
        const timer = setInterval(() => {
          if (filesIn(out).some((f) => f.endsWith('.partial'))) {
            clearInterval(timer);
            setTimeout(() => child.kill('SIGTERM'), 300);
          }
        }, 50);
      },
    },
  );
  expect(result.exitCode).toBe(143);
  expect(result.logs).toContain('Received SIGTERM');
  expect(existsSync(hooks.started)).toBe(true);
  expectNoBackup(out);
  // The exported-snapshot session and pg_dump are gone: nothing of the run is left on the server.
  await new Promise((r) => setTimeout(r, 500));
  const left = await withClient(connectionFromUrl(cluster.url('postgres')), (c) =>
    c.query(`SELECT pid FROM pg_stat_activity WHERE datname = 'shop' AND pid <> pg_backend_pid()`),
  );
  expect(left.rows).toEqual([]);
});
