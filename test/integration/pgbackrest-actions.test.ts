import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { runAction } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

// The bundles run as root here, as the other action tests do: what touches the cluster (pgbackrest,
// pg_ctl) runs as the data directory's owner, as it would with a runner on the database host.
let c: PgBackRestCluster;

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-actions');
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
     INSERT INTO orders (total) SELECT g FROM generate_series(1, 3000) g;`,
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

test('backup with engine pgbackrest, then rollback with strategy pitr: writes after the point are gone', async () => {
  const backup = await runAction('backup', {
    'database-url': c.url('shop'),
    engine: 'pgbackrest',
    'pgbackrest-stanza': c.stanza,
    'pgbackrest-config': c.config,
    'pgbackrest-backup-type': 'incr',
    'protected-tables': 'orders',
    'output-dir': `${c.root}/manifests`,
  });
  expect(backup.errors).toEqual([]);
  expect(backup.exitCode).toBe(0);
  expect(backup.outputs.status).toBe('verified');
  const manifest = JSON.parse(readFileSync(backup.outputs['manifest-path']!, 'utf8')) as Record<
    string,
    unknown
  >;
  expect(manifest).toMatchObject({
    format: 2,
    engine: 'pgbackrest',
    database: 'shop',
    databases: ['postgres', 'shop'],
  });
  expect(backup.summary).toMatch(/✅ Recovery point \S+ of shop: restore point \S+ archived in stanza main/);
  expect(backup.logs).not.toContain('p@ss');

  await c.query('DELETE FROM orders WHERE id > 10; CREATE TABLE migrated (x int);', 'shop');
  const rollback = await runAction('rollback', {
    'database-url': c.url('shop'),
    manifest: backup.outputs['manifest-path']!,
    strategy: 'pitr',
    pgdata: c.dataDir,
    'side-port': String(await freePort()),
  });
  expect(rollback.errors).toEqual([]);
  expect(rollback.exitCode).toBe(0);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(Number(rollback.outputs['downtime-seconds'])).toBeGreaterThan(0);
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 3000 });
  expect(await c.query("SELECT 1 FROM pg_class WHERE relname = 'migrated'", 'shop')).toEqual([]);
  expect(existsSync(`${c.dataDir}.before-${backup.outputs['backup-id']}`)).toBe(true);
  expect(rollback.logs).not.toContain('p@ss');
});

test('rollback pitr without pgdata: refused before anything', async () => {
  const r = await runAction('rollback', {
    'database-url': c.url('shop'),
    manifest: `${c.root}/nope.json`,
    strategy: 'pitr',
  });
  expect(r.exitCode).not.toBe(0);
  expect(r.outputs.verdict).toBe('refused');
  expect(r.logs).toContain('Input required and not supplied: pgdata');
});

/** The system identifier in a data directory's pg_control (read with pg_controldata). */
function systemIdOf(dataDir: string, binDir: string): string {
  const r = spawnSync(path.join(binDir, 'pg_controldata'), [dataDir], { encoding: 'utf8' });
  return /Database system identifier:\s+(\d+)/.exec(r.stdout)?.[1] ?? `(pg_controldata: ${r.stderr})`;
}

test('the restored cluster fails to start after the cut-over: down, said plainly, the previous directory kept whole; a rerun resumes at the start', async () => {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // pgBackRest's own log of the restore, to see the --process-max it ran with.
  const config = path.join(c.root, 'pgbackrest-info.conf');
  writeFileSync(
    config,
    readFileSync(c.config, 'utf8').replace('log-level-file=off', 'log-level-file=detail'),
    { mode: 0o644 },
  );
  const backup = await runAction('backup', {
    'database-url': c.url('shop'),
    engine: 'pgbackrest',
    'pgbackrest-stanza': c.stanza,
    'pgbackrest-config': c.config,
    'pgbackrest-backup-type': 'incr',
    'protected-tables': 'orders',
    'output-dir': `${c.root}/manifests`,
  });
  expect(backup.exitCode).toBe(0);
  const id = backup.outputs['backup-id']!;
  const liveId = systemIdOf(c.dataDir, c.binDir);
  expect(liveId).toMatch(/^\d+$/);
  await c.query('DELETE FROM orders WHERE id > 10', 'shop');
  const aside = `${c.dataDir}.before-${id}`;
  const appLog = path.join(c.root, 'app.log');
  const inputs = {
    'database-url': c.url('shop'),
    manifest: backup.outputs['manifest-path']!,
    strategy: 'pitr',
    pgdata: c.dataDir,
    'side-port': String(await freePort()),
    'pgbackrest-config': config,
    'stop-command': `echo stopped >> ${appLog}`,
    'start-command': `echo started >> ${appLog}`,
  };

  // A bad process-max is refused by name before anything (no restore, no marker change).
  const markerFile = `${c.dataDir}.pitr-rollback.json`;
  const marker = existsSync(markerFile) ? readFileSync(markerFile, 'utf8') : undefined;
  const bad = await runAction('rollback', { ...inputs, 'pgbackrest-process-max': '65' });
  expect(bad.exitCode).not.toBe(0);
  expect(bad.outputs.verdict).toBe('refused');
  expect(bad.logs).toContain('Input "pgbackrest-process-max" must be between 1 and 64, got "65".');
  expect(existsSync(appLog)).toBe(false);
  expect(existsSync(`${c.dataDir}.pitr-side`)).toBe(false);
  expect(existsSync(markerFile) ? readFileSync(markerFile, 'utf8') : undefined).toBe(marker);

  // A real start failure: the server refuses a bad setting and stops, writing why to its log.
  const failed = await runAction('rollback', {
    ...inputs,
    'pgbackrest-process-max': '2',
    'cluster-start-command': `${isRoot ? 'runuser -u postgres -- ' : ''}${c.binDir}/pg_ctl start -w -t 60 -D "$PGDATA" -l "$PGDATA.log" -o "-c max_connections=bogus"; rc=$?; printenv INPUT_DATABASE-URL >&2; exit $rc`,
  });
  expect(failed.exitCode).not.toBe(0);
  expect(failed.outputs.verdict).toBe('failed');
  expect(failed.outputs['failed-database']).toBe(aside);
  expect(Number(failed.outputs['downtime-seconds'])).toBeGreaterThan(0);
  const lead = failed.summary.trimStart().split('\n')[0] ?? '';
  expect(lead).toMatch(/^<h2>/);
  expect(lead).toContain('❌ Rollback of shop: failed');
  expect(lead).toContain('database down (');
  expect(lead).toContain('The database is DOWN: the restored cluster did not start after the cut-over');
  expect(lead).toContain(`the previous data directory is kept whole as ${aside}`);
  expect(lead).toContain(`the restored one is now at ${c.dataDir}`);
  expect(lead).toContain(`read ${c.dataDir}.log`);
  expect(failed.summary).toContain('How to put the previous data directory back');
  expect(failed.summary).toContain(`mv ${c.dataDir} ${c.dataDir}.restored-${id}`);
  expect(failed.summary).toContain(`mv ${aside} ${c.dataDir}`);
  expect(failed.summary).toContain(`export PGDATA=${c.dataDir}`);
  expect(failed.summary).toContain('The application is left stopped:');
  expect(failed.errors.join('\n')).toMatch(
    /Two ways out: fix the cause and run this rollback again with the same manifest \(it resumes at the start step\), or put the previous cluster back/,
  );
  expect(readFileSync(`${c.dataDir}.log`, 'utf8')).toMatch(/invalid value for parameter "max_connections"/);
  expect(failed.errors.join('\n')).toMatch(/The server log ends: .*invalid value for parameter/);
  // The restore ran with --process-max=2 (pgBackRest's own log, and the action's).
  expect(failed.logs).toContain('with process-max 2');
  expect(c.sh('cat', [path.join(c.root, 'log', `${c.stanza}-restore.log`)]).stdout).toMatch(
    /restore command begin .*--process-max=2/,
  );
  // Down, the previous directory whole (its own cluster), the application not started.
  await expect(c.query('SELECT 1')).rejects.toThrow();
  expect(existsSync(path.join(aside, 'PG_VERSION'))).toBe(true);
  expect(systemIdOf(aside, c.binDir)).toBe(liveId);
  expect(readFileSync(appLog, 'utf8')).toBe('stopped\n');
  // What the start command printed (the connection URL, here) is masked everywhere.
  for (const text of [failed.logs, failed.summary, failed.errors.join('\n')]) {
    expect(text).not.toContain('p@ss');
    expect(text).not.toContain(encodeURIComponent('p@ss'));
  }
  expect(failed.errors.join('\n')).toContain('(Examine the log output; ***)');

  // A start command that starts nothing: the health check finds no primary, still down, same way out.
  const unhealthy = await runAction('rollback', {
    ...inputs,
    'cluster-start-command': 'true',
    'health-timeout': '3s',
  });
  expect(unhealthy.outputs.verdict).toBe('failed');
  expect(unhealthy.summary.trimStart().split('\n')[0]).toMatch(
    /The database is DOWN: the restored cluster did not start after the cut-over \(it did not become healthy within 3s: .*\); the previous data directory is kept whole as /,
  );
  expect(Number(unhealthy.outputs['downtime-seconds'])).toBeGreaterThan(
    Number(failed.outputs['downtime-seconds']),
  );
  expect(existsSync(path.join(aside, 'PG_VERSION'))).toBe(true);

  // The fault removed (the default start): the rerun resumes at the start step and restores.
  const rerun = await runAction('rollback', inputs);
  expect(rerun.errors).toEqual([]);
  expect(rerun.outputs.verdict).toBe('restored');
  expect(rerun.summary).toContain('the side was already in place');
  expect(Number(rerun.outputs['downtime-seconds'])).toBeGreaterThan(
    Number(failed.outputs['downtime-seconds']),
  );
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 3000 });
  expect(readFileSync(appLog, 'utf8')).toBe('stopped\nstopped\nstopped\nstarted\n');
  expect(existsSync(path.join(aside, 'PG_VERSION'))).toBe(true);
  const restoreLog = c.sh('cat', [path.join(c.root, 'log', `${c.stanza}-restore.log`)]).stdout;
  const took = /restore command end: completed successfully \((\d+)ms\)/.exec(restoreLog)?.[1];
  console.log(
    `pgBackRest restore with --process-max=2: ${took ?? '?'} ms; downtime ${rerun.outputs['downtime-seconds']} s`,
  );
});

test('cluster-stop-command past hook-timeout: killed with that message, nothing replaced, the application started again; a rerun restores', async () => {
  const backup = await runAction('backup', {
    'database-url': c.url('shop'),
    engine: 'pgbackrest',
    'pgbackrest-stanza': c.stanza,
    'pgbackrest-config': c.config,
    'pgbackrest-backup-type': 'incr',
    'protected-tables': 'orders',
    'output-dir': `${c.root}/manifests`,
  });
  expect(backup.exitCode).toBe(0);
  const before = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM orders', 'shop'))[0]!.n;
  await c.query('DELETE FROM orders WHERE id > 5', 'shop');
  const appLog = path.join(c.root, 'app-hang.log');
  const inputs = {
    'database-url': c.url('shop'),
    manifest: backup.outputs['manifest-path']!,
    strategy: 'pitr',
    pgdata: c.dataDir,
    'side-port': String(await freePort()),
    'stop-command': `echo stopped >> ${appLog}`,
    'start-command': `echo started >> ${appLog}`,
  };
  const hung = await runAction('rollback', {
    ...inputs,
    'cluster-stop-command': 'sleep 600',
    'hook-timeout': '3s',
  });
  expect(hung.exitCode).not.toBe(0);
  expect(hung.outputs.verdict).toBe('failed');
  expect(hung.outputs['downtime-seconds']).toBe('');
  expect(hung.errors.join('\n')).toContain(
    `cluster-stop-command timed out after 3s; the live cluster was not replaced and still runs on ${c.dataDir}.`,
  );
  // The live cluster untouched (the rows deleted after the point are still gone), the application back.
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: 5 });
  expect(readFileSync(appLog, 'utf8')).toBe('stopped\nstarted\n');
  expect(existsSync(`${c.dataDir}.before-${backup.outputs['backup-id']}`)).toBe(false);
  expect(JSON.parse(readFileSync(`${c.dataDir}.pitr-rollback.json`, 'utf8'))).toMatchObject({
    phase: 'restore',
  });

  const rerun = await runAction('rollback', inputs);
  expect(rerun.errors).toEqual([]);
  expect(rerun.outputs.verdict).toBe('restored');
  expect(rerun.logs).toContain('delta restore into');
  expect((await c.query('SELECT count(*)::int AS n FROM orders', 'shop'))[0]).toEqual({ n: before });
});
