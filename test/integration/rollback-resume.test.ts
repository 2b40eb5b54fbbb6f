import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
import { useCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const fx = useCluster('rollback-resume');

/** A pg-bin-dir whose pg_restore (except --list/--version) writes its pid and sleeps before the real one runs. */
function slowRestoreDir(pidFile: string): string {
  const bin = mkdtempSync(path.join(fx.dir, 'bin-'));
  const real = path.join(fx.cluster.binDir, 'pg_restore');
  writeFileSync(
    path.join(bin, 'pg_restore'),
    `#!/bin/sh\nfor a in "$@"; do case "$a" in --list|--version) exec ${real} "$@";; esac; done\necho $$ > ${pidFile}\nsleep 60\nexec ${real} "$@"\n`,
  );
  chmodSync(path.join(bin, 'pg_restore'), 0o755);
  return bin;
}

async function waitFor(check: () => boolean, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a rollback killed during the restore leaves production untouched; a second run meanwhile fails fast; a rerun finishes', async () => {
  await seedShop(fx.cluster, 'shop');
  const backup = await makeBackup(fx.cluster, 'shop', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'shop');
  const migrated = await fingerprintsOf(fx.cluster, 'shop', PROTECTED);
  const pidFile = path.join(fx.dir, 'restore.pid');
  const inputs = { 'database-url': fx.cluster.url('shop'), manifest: backup.manifestFile };

  let first: ChildProcess | undefined;
  const firstRun = runAction(
    'rollback',
    { ...inputs, 'pg-bin-dir': slowRestoreDir(pidFile) },
    { onStart: (c) => (first = c) },
  );
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');

  const second = await runAction('rollback', inputs);
  expect(second.exitCode).not.toBe(0);
  expect(second.outputs.verdict).toBe('refused');
  expect(second.errors.join('\n')).toMatch(
    /migration-guard lock is held by "migration-guard: rollback run 4242\.1 by octocat"/,
  );

  first!.kill('SIGKILL');
  // The runner kills the whole process tree of a cancelled step; the sleeping pg_restore is part of it.
  process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
  const killed = await firstRun;
  expect(killed.signal).toBe('SIGKILL');
  expect(await fingerprintsOf(fx.cluster, 'shop', PROTECTED)).toEqual(migrated);
  const stray = await databasesLike(fx.cluster, 'shop_restore_');
  expect(stray).toHaveLength(1);

  const rerun = await runAction('rollback', inputs);
  expect(rerun.errors).toEqual([]);
  expect(rerun.outputs.verdict).toBe('restored');
  expect(rerun.logs).toContain(`Dropping "${stray[0]}", left by an interrupted rollback`);
  expect(await fingerprintsOf(fx.cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(await databasesLike(fx.cluster, 'shop_restore_')).toEqual([]);
  expect(await databasesLike(fx.cluster, 'shop_failed_')).toEqual([rerun.outputs['failed-database']]);
  for (const r of [second, killed, rerun]) expect(leakedSecret(r, fx.cluster.password)).toBe(false);
});

test('a rollback cancelled (SIGTERM) during the restore drops its side database, releases the lock and exits non-zero', async () => {
  await seedShop(fx.cluster, 'cancel');
  const backup = await makeBackup(fx.cluster, 'cancel', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'cancel');
  const migrated = await fingerprintsOf(fx.cluster, 'cancel', PROTECTED);
  const pidFile = path.join(fx.dir, 'cancel.pid');
  const inputs = { 'database-url': fx.cluster.url('cancel'), manifest: backup.manifestFile };
  let child: ChildProcess | undefined;
  const run = runAction(
    'rollback',
    { ...inputs, 'pg-bin-dir': slowRestoreDir(pidFile) },
    { onStart: (c) => (child = c) },
  );
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
  expect(await databasesLike(fx.cluster, 'cancel_restore_')).toHaveLength(1);
  child!.kill('SIGTERM');
  const result = await run;
  expect(result.exitCode).toBe(143);
  expect(result.logs).toContain('Received SIGTERM');
  expect(result.outputs.verdict).toBe('failed');
  expect(result.summary).toContain('The rollback was cancelled (SIGTERM)');
  expect(await databasesLike(fx.cluster, 'cancel_')).toEqual([]);
  expect(await fingerprintsOf(fx.cluster, 'cancel', PROTECTED)).toEqual(migrated);
  const locks = await fx.cluster.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'");
  expect(locks).toEqual([]);
  expect(leakedSecret(result, fx.cluster.password)).toBe(false);
});

test('a code revert failing after the swap keeps the app stopped; a rerun resumes after the swap without swapping twice', async () => {
  await seedShop(fx.cluster, 'web');
  const backup = await makeBackup(fx.cluster, 'web', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'web');
  const marker = path.join(fx.dir, 'web-started');
  const inputs = {
    'database-url': fx.cluster.url('web'),
    manifest: backup.manifestFile,
    'app-dir': fx.dir,
    'stop-command': 'echo stopped',
    'start-command': `touch ${marker}`,
  };

  const failed = await runAction('rollback', { ...inputs, 'revert-command': 'echo cannot deploy; exit 3' });
  expect(failed.exitCode).not.toBe(0);
  expect(failed.outputs.verdict).toBe('failed');
  expect(failed.errors.join('\n')).toMatch(/revert-command failed: .*exited with code 3/);
  expect(existsSync(marker)).toBe(false);
  expect(failed.summary).toContain('The application is left stopped');
  expect(failed.summary).toContain('How to swap back');
  expect(failed.summary).toContain(`ALTER DATABASE "${failed.outputs['failed-database']}" RENAME TO "web";`);
  expect(await fingerprintsOf(fx.cluster, 'web', PROTECTED)).toEqual(backup.manifest.fingerprints);

  const resumed = await runAction('rollback', { ...inputs, 'revert-command': 'echo deployed' });
  expect(resumed.errors).toEqual([]);
  expect(resumed.outputs.verdict).toBe('restored');
  expect(resumed.summary).toContain('resuming after the swap');
  // What the earlier run swapped in and how long the database was closed, from its marker.
  expect(resumed.outputs['restored-from']).toBe(backup.dumpFile);
  expect(resumed.outputs['restored-from']).toBe(failed.outputs['restored-from']);
  expect(resumed.outputs['downtime-seconds']).not.toBe('');
  expect(
    Math.abs(Number(resumed.outputs['downtime-seconds']) - Number(failed.outputs['downtime-seconds'])),
  ).toBeLessThan(0.05);
  const phases = JSON.parse(resumed.outputs['phases-json'] ?? '{}') as {
    phases: { name: string; status: string }[];
  };
  expect(phases.phases.filter((p) => p.status === 'skipped').map((p) => p.name)).toEqual(
    expect.arrayContaining(['restore', 'swap']),
  );
  expect(existsSync(marker)).toBe(true);
  expect(await databasesLike(fx.cluster, 'web_')).toEqual([failed.outputs['failed-database']]);
  expect(await fingerprintsOf(fx.cluster, 'web', PROTECTED)).toEqual(backup.manifest.fingerprints);
});
