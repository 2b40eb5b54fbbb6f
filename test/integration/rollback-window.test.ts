import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';

import { rollbackNames } from '../../src/postgres/side-names';
import { runAction } from '../harness/action';
import {
  databasesLike,
  fingerprintsOf,
  leakedSecret,
  makeBackup,
  migrateShop,
  seedShop,
} from '../harness/make-backup';
import { SUPERUSER_PASSWORD, useCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const fx = useCluster('rollback-window');

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function allowsConnections(database: string): Promise<boolean | undefined> {
  const [row] = await fx.cluster.query<{ a: boolean }>(
    'SELECT datallowconn AS a FROM pg_database WHERE datname = $1',
    'postgres',
    [database],
  );
  return row?.a;
}

async function oidOf(database: string): Promise<number | undefined> {
  const [row] = await fx.cluster.query<{ oid: number }>(
    'SELECT oid::int AS oid FROM pg_database WHERE datname = $1',
    'postgres',
    [database],
  );
  return row?.oid;
}

/** A pg-bin-dir whose pg_restore (except --list/--version) writes its pid and sleeps a little before the real one. */
function slowRestoreDir(pidFile: string, seconds: number): string {
  const bin = mkdtempSync(path.join(fx.dir, 'bin-'));
  const real = path.join(fx.cluster.binDir, 'pg_restore');
  writeFileSync(
    path.join(bin, 'pg_restore'),
    `#!/bin/sh\nfor a in "$@"; do case "$a" in --list|--version) exec ${real} "$@";; esac; done\necho $$ > ${pidFile}\nsleep ${seconds}\nexec ${real} "$@"\n`,
  );
  chmodSync(path.join(bin, 'pg_restore'), 0o755);
  return bin;
}

function superuser(database = 'postgres'): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: fx.cluster.port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    database,
  });
}

test('SIGKILL inside the swap window: the rerun first gives production its connections back, then restores, and reports the real downtime', async () => {
  await seedShop(fx.cluster, 'win');
  const backup = await makeBackup(fx.cluster, 'win', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'win');
  const migrated = await fingerprintsOf(fx.cluster, 'win', PROTECTED);
  const liveOid = await oidOf('win');
  const names = rollbackNames('win', backup.manifest.backupId);
  const inputs = { 'database-url': fx.cluster.url('win'), manifest: backup.manifestFile };

  // Another transaction renames a database to the kept name and stays open: the swap's own rename
  // waits on it, inside the window (live blocked, not yet swapped), where the action is killed.
  await fx.cluster.query('CREATE DATABASE win_blocker');
  const blocker = superuser();
  await blocker.connect();
  let child: ChildProcess | undefined;
  let blockedFor = 0;
  try {
    await blocker.query('BEGIN');
    await blocker.query(`ALTER DATABASE win_blocker RENAME TO "${names.failed}"`);
    const run = runAction('rollback', inputs, { onStart: (c) => (child = c) });
    await waitFor(async () => (await allowsConnections('win')) === false);
    const blockedSeen = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    child!.kill('SIGKILL');
    blockedFor = Date.now() - blockedSeen;
    const killed = await run;
    expect(killed.signal).toBe('SIGKILL');
    expect(leakedSecret(killed, fx.cluster.password)).toBe(false);
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    await blocker.end();
  }
  // What the kill left: the same live database, refusing connections, nothing swapped.
  expect(await oidOf('win')).toBe(liveOid);
  expect(await allowsConnections('win')).toBe(false);
  expect(await databasesLike(fx.cluster, 'win_failed_')).toEqual([]);

  const pidFile = path.join(fx.dir, 'win-restore.pid');
  const rerun = runAction('rollback', { ...inputs, 'pg-bin-dir': slowRestoreDir(pidFile, 3) });
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
  // While the rerun restores, production serves again, unchanged.
  expect(await allowsConnections('win')).toBe(true);
  expect(await fingerprintsOf(fx.cluster, 'win', PROTECTED)).toEqual(migrated);
  const result = await rerun;
  expect(result.errors).toEqual([]);
  expect(result.outputs.verdict).toBe('restored');
  expect(result.logs).toMatch(
    /left refusing connections by an interrupted rollback .*: connections are allowed again/,
  );
  // The downtime counts the window the killed run left open, not only the rerun's own swap.
  expect(Number(result.outputs['downtime-seconds'])).toBeGreaterThanOrEqual(blockedFor / 1000);
  expect(await fingerprintsOf(fx.cluster, 'win', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(await allowsConnections('win')).toBe(true);
  expect(await databasesLike(fx.cluster, 'win_restore_')).toEqual([]);
  expect(await databasesLike(fx.cluster, 'win_failed_')).toEqual([result.outputs['failed-database']]);
  const locks = await fx.cluster.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'");
  expect(locks).toEqual([]);
  expect(leakedSecret(result, fx.cluster.password)).toBe(false);
});

test('a second rollback from the same backup, after a finished one and a later change to an unprotected table, restores again', async () => {
  await seedShop(fx.cluster, 'twice');
  const backup = await makeBackup(fx.cluster, 'twice', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'twice');
  const inputs = { 'database-url': fx.cluster.url('twice'), manifest: backup.manifestFile };

  const first = await runAction('rollback', inputs);
  expect(first.outputs.verdict).toBe('restored');
  // Life goes on: a change the protected tables' fingerprints do not see.
  await fx.cluster.query(
    "UPDATE products SET stock_quantity = -1 WHERE id <= 10; INSERT INTO products (slug) VALUES ('later')",
    'twice',
  );

  const second = await runAction('rollback', inputs);
  expect(second.errors).toEqual([]);
  expect(second.outputs.verdict).toBe('restored');
  const phases = JSON.parse(second.outputs['phases-json'] ?? '{}') as {
    phases: { name: string; status: string }[];
  };
  expect(phases.phases.filter((p) => p.name === 'restore' || p.name === 'swap').map((p) => p.status)).toEqual(
    ['ok', 'ok'],
  );
  expect(second.outputs['restored-from']).toBe(backup.dumpFile);
  const [row] = await fx.cluster.query<{ n: string; later: string }>(
    "SELECT count(*)::text AS n, count(*) FILTER (WHERE slug = 'later' OR stock_quantity = -1)::text AS later FROM products",
    'twice',
  );
  expect(Number(row?.n)).toBe(backup.manifest.rowCounts['public.products']);
  expect(row?.later).toBe('0');
  // The first rollback's kept database is kept, not reused: the second one keeps its own.
  expect(await databasesLike(fx.cluster, 'twice_failed_')).toEqual(
    [first.outputs['failed-database'], second.outputs['failed-database']].sort(),
  );
  expect(second.outputs['failed-database']).not.toBe(first.outputs['failed-database']);
});

test('SIGKILL between the swap and the code revert: the revert dies with the action, the app is not started, the rerun resumes after the swap', async () => {
  await seedShop(fx.cluster, 'rev');
  const backup = await makeBackup(fx.cluster, 'rev', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'rev');
  const mark = mkdtempSync(path.join(fx.dir, 'rev-mark-'));
  const at = (name: string): string => path.join(mark, name);
  const inputs = {
    'database-url': fx.cluster.url('rev'),
    manifest: backup.manifestFile,
    'app-dir': fx.dir,
    'stop-command': 'echo stopped',
    'start-command': `touch ${at('started')}`,
  };
  let child: ChildProcess | undefined;
  const run = runAction(
    'rollback',
    { ...inputs, 'revert-command': `touch ${at('revert-began')}; sleep 4; touch ${at('reverted')}` },
    { onStart: (c) => (child = c) },
  );
  await waitFor(() => existsSync(at('revert-began')));
  child!.kill('SIGKILL');
  const killed = await run;
  expect(killed.signal).toBe('SIGKILL');
  // Swapped whole: the live database is the verified copy, the migrated one is kept.
  expect(await fingerprintsOf(fx.cluster, 'rev', PROTECTED)).toEqual(backup.manifest.fingerprints);
  const kept = await databasesLike(fx.cluster, 'rev_failed_');
  expect(kept).toHaveLength(1);
  await new Promise((r) => setTimeout(r, 5000));
  // The revert did not go on without the action, and nothing started the app on unreverted code.
  expect(existsSync(at('reverted'))).toBe(false);
  expect(existsSync(at('started'))).toBe(false);

  const rerun = await runAction('rollback', { ...inputs, 'revert-command': `touch ${at('reverted')}` });
  expect(rerun.errors).toEqual([]);
  expect(rerun.outputs.verdict).toBe('restored');
  expect(rerun.summary).toContain('resuming after the swap');
  const phases = JSON.parse(rerun.outputs['phases-json'] ?? '{}') as {
    phases: { name: string; status: string }[];
  };
  expect(phases.phases.filter((p) => p.status === 'skipped').map((p) => p.name)).toEqual(
    expect.arrayContaining(['restore', 'swap']),
  );
  expect(rerun.outputs['failed-database']).toBe(kept[0]);
  expect(rerun.outputs['restored-from']).toBe(backup.dumpFile);
  expect(existsSync(at('reverted'))).toBe(true);
  expect(existsSync(at('started'))).toBe(true);
  expect(await databasesLike(fx.cluster, 'rev_')).toEqual(kept);
  expect(await fingerprintsOf(fx.cluster, 'rev', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(leakedSecret(rerun, fx.cluster.password)).toBe(false);
});
