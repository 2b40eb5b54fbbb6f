import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';

import { runAction } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir } from './backup-fixture';

let cluster: PostgresCluster;
const mounts: string[] = [];

/** A real small file system (tmpfs, so it needs root, as CI has) for disk-full faults. */
function smallDisk(megabytes: number): string {
  const dir = tempDir('disk');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

beforeAll(async () => {
  cluster = await startPostgres('backup-disk');
  await seedShop(cluster, 'shop', 40000);
  // Incompressible data, so the archive is about as large as the table.
  await cluster.query(
    `CREATE TABLE blobs (id int PRIMARY KEY, data bytea);
     INSERT INTO blobs SELECT g, decode(string_agg(md5(g::text || '-' || k), ''), 'hex')
       FROM generate_series(1, 3000) g, generate_series(1, 64) k GROUP BY g;`,
    'shop',
  );
});
afterAll(async () => {
  for (const dir of mounts) execFileSync('umount', ['-l', dir]);
  await cluster?.stop();
});

test('an output directory too small for the estimate: refused before anything is stopped', async () => {
  const out = smallDisk(8);
  const hooks = markerHooks(tempDir('hooks'));
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    ...hooks,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(/Not enough free space for the dump in ".*": \d+ bytes free/);
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
  expectNoSecret(result);
});

test('the disk fills up midway (ENOSPC): no backup is named, the partial file is gone, services restarted', async () => {
  const out = smallDisk(120);
  const filler = path.join(out, 'filler');
  const hooks = markerHooks(tempDir('hooks'));
  // The stop hook runs after the preflight: it takes nearly all the space the estimate counted on.
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'stop-command': `${hooks['stop-command']} && fallocate -l $(( $(df --output=avail -B1 '${out}' | tail -1) - 262144 )) '${filler}'`,
    'start-command': `${hooks['start-command']} && rm -f '${filler}'`,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(/ENOSPC|no space left/i);
  expect(existsSync(hooks.started)).toBe(true);
  expect(filesIn(out)).toEqual([]);
  expect(result.outputs['backup-path']).toBeUndefined();
  expectNoSecret(result);
});

async function lockOrders(): Promise<pg.Client> {
  const holder = new pg.Client({
    host: '127.0.0.1',
    port: cluster.port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    database: 'shop',
  });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  return holder;
}

test('a table locked before the backup starts: the preflight gives up within lock-wait-timeout', async () => {
  const holder = await lockOrders();
  try {
    const out = tempDir('out');
    const hooks = markerHooks(tempDir('hooks'));
    const result = await runAction('backup', {
      'database-url': cluster.url('shop'),
      'output-dir': out,
      'lock-wait-timeout': '2s',
      ...hooks,
    });
    expect(result.exitCode).toBe(1);
    expect(result.errors.join('\n')).toMatch(
      /Preflight waited longer than lock-wait-timeout \(2s\) for a table lock/,
    );
    expect(existsSync(hooks.stopped)).toBe(false);
    expect(filesIn(out)).toEqual([]);
    expectNoSecret(result);
  } finally {
    await holder.end();
  }
});

test('pg_dump blocked behind a lock taken during the backup gives up within lock-wait-timeout', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const locked = path.join(tempDir('sync'), 'locked');
  let holder: pg.Client | undefined;
  // The stop hook runs after the preflight; it waits until the test holds the lock, then the dump starts.
  const running = runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'lock-wait-timeout': '2s',
    'stop-command': `${hooks['stop-command']} && for i in $(seq 200); do [ -f '${locked}' ] && break; sleep 0.05; done`,
    'start-command': hooks['start-command'],
  });
  try {
    while (!existsSync(hooks.stopped)) await new Promise((r) => setTimeout(r, 50));
    holder = await lockOrders();
    execFileSync('touch', [locked]);
    const result = await running;
    expect(result.exitCode).toBe(1);
    // pg_dump 15 enforces --lock-wait-timeout with a statement timeout on its LOCK TABLE.
    expect(result.errors.join('\n')).toMatch(
      /pg_dump failed: .*LOCK TABLE public\.orders IN ACCESS SHARE MODE/,
    );
    expect(existsSync(hooks.started)).toBe(true);
    expect(filesIn(out)).toEqual([]);
    expectNoSecret(result);
  } finally {
    await holder?.end();
  }
});

test('the file altered on disk between the dump and its final name: refused, nothing named', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  // The start hook runs after the dump and before the verification: it flips one byte of the file.
  const flip = `f=$(ls '${out}'/*.partial | head -1) && printf '\\x5a' | dd of="$f" bs=1 seek=4096 conv=notrunc status=none`;
  const result = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    'stop-command': hooks['stop-command'],
    'start-command': `${hooks['start-command']} && ${flip}`,
  });
  expect(result.exitCode).toBe(1);
  expect(result.errors.join('\n')).toMatch(/The archive changed on disk after it was written: sha256/);
  expect(filesIn(out)).toEqual([]);
  expect(result.outputs['manifest-path']).toBeUndefined();
  expectNoSecret(result);
});
