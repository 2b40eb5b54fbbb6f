import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

import { PgBackRest, userFor } from '../../src/pgbackrest/command';
import { cutOver, type CutoverOptions } from '../../src/pgbackrest/cutover';
import type { PitrManifest } from '../../src/pgbackrest/manifest';
import { takeRecoveryPoint } from '../../src/pgbackrest/recovery-point';
import { checkPitr, cutOverPitr, preparePitr, type PitrRollbackOptions } from '../../src/pgbackrest/rollback';
import { restoreSide, stopServer } from '../../src/pgbackrest/side';
import { readState, statePathFor, writeState, type PitrState } from '../../src/pgbackrest/state';
import { segmentsBetween } from '../../src/pgbackrest/wal';
import { connectionFromUrl } from '../../src/postgres/connection';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

let c: PgBackRestCluster;
let n = 0;

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-faults');
  await c.query('CREATE DATABASE shop');
  await c.query(
    'CREATE TABLE orders (id serial PRIMARY KEY, total numeric); INSERT INTO orders (total) SELECT g FROM generate_series(1, 2000) g;',
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

async function pgbr(): Promise<PgBackRest> {
  return new PgBackRest({ stanza: c.stanza, config: c.config, user: await userFor(c.dataDir) });
}

async function point(): Promise<PitrManifest> {
  n += 1;
  return takeRecoveryPoint({
    connection: connectionFromUrl(c.url('shop')),
    pgbr: await pgbr(),
    name: `shop-20260101T00000${n}Z-000${n}`,
    backupType: 'none',
    protectedTables: ['public.orders'],
    archiveTimeoutMs: 60_000,
  });
}

async function options(
  m: PitrManifest,
  scope: 'database' | 'cluster' = 'database',
): Promise<PitrRollbackOptions> {
  return {
    connection: connectionFromUrl(c.url('shop')),
    pgbr: await pgbr(),
    manifest: m,
    pgdata: c.dataDir,
    sideDir: path.join(c.root, 'side'),
    sidePort: await freePort(),
    binDir: c.binDir,
    owner: await userFor(c.dataDir),
    scope,
    recoveryTimeoutMs: 120_000,
    healthTimeoutMs: 60_000,
  };
}

async function orders(): Promise<number> {
  return (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM orders', 'shop'))[0]!.n;
}

test('archiving broken: the recovery point is refused in preflight', async () => {
  await c.query("ALTER SYSTEM SET archive_command = '/bin/false'");
  await c.query('SELECT pg_reload_conf()');
  try {
    const failures = async (): Promise<number> =>
      Number((await c.query<{ f: string }>('SELECT failed_count AS f FROM pg_stat_archiver'))[0]?.f);
    const failAnother = async (): Promise<void> => {
      const before = await failures();
      await c.query(
        'CREATE TABLE IF NOT EXISTS wal_filler (g int); INSERT INTO wal_filler SELECT generate_series(1, 1000);',
        'shop',
      );
      await c.query('SELECT pg_switch_wal()');
      for (let i = 0; i < 300 && (await failures()) <= before; i++)
        await new Promise((r) => setTimeout(r, 100));
    };
    await failAnother();
    await expect(point()).rejects.toThrow(/archive_command is "\/bin\/false", not pgBackRest's/);
    // pgBackRest's command, but failing (a repository it cannot write): the failure is seen.
    await c.query(
      `ALTER SYSTEM SET archive_command = 'pgbackrest --config=${c.config} --stanza=main --repo1-path=/nonexistent archive-push %p'`,
    );
    await c.query('SELECT pg_reload_conf()');
    await failAnother();
    await expect(point()).rejects.toThrow(
      /WAL archiving to pgBackRest is not healthy: the last archive attempt failed/,
    );
  } finally {
    await c.query('ALTER SYSTEM RESET archive_command');
    await c.query('SELECT pg_reload_conf()');
    await c.query('DROP TABLE IF EXISTS wal_filler', 'shop');
    // Healthy again once a segment is archived after the last failure.
    await c.query('SELECT pg_switch_wal()');
    for (let i = 0; i < 600; i++) {
      const [a] = await c.query<{ ok: boolean }>(
        'SELECT last_archived_time >= last_failed_time AS ok FROM pg_stat_archiver',
      );
      if (a?.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

test('the repository is missing WAL: refused before anything changes', async () => {
  const m = await point();
  const [backup] = JSON.parse(c.pgbackrest('info', '--output=json')) as {
    backup: { label: string; archive: { start: string } }[];
  }[];
  const base = backup!.backup.find((b) => b.label === m.pgbackrest.backupLabel)!;
  const wanted = segmentsBetween(base.archive.start, m.restorePoint.segment, m.pgbackrest.walSegmentBytes);
  const victim = wanted[Math.floor(wanted.length / 2)]!;
  const folder = path.join(c.repoDir, 'archive', c.stanza, m.pgbackrest.archiveId, victim.slice(0, 16));
  const file = readdirSync(folder).find((f) => f.startsWith(`${victim}-`))!;
  renameSync(path.join(folder, file), path.join(c.root, file));
  try {
    await expect(checkPitr(await options(m))).rejects.toThrow(
      new RegExp(`missing 1 WAL segment\\(s\\) .*${victim}`),
    );
    expect(existsSync(statePathFor(c.dataDir))).toBe(false);
    expect(existsSync(path.join(c.root, 'side'))).toBe(false);
  } finally {
    renameSync(path.join(c.root, file), path.join(folder, file));
  }
});

test('another database in the cluster: refused unless scope is cluster', async () => {
  await c.query('CREATE DATABASE other');
  try {
    const m = await point();
    expect(m.databases).toEqual(['other', 'postgres', 'shop']);
    await expect(checkPitr(await options(m))).rejects.toThrow(/also holds "other"; set scope: cluster/);
    expect((await checkPitr(await options(m, 'cluster'))).kind).toBe('fresh');
  } finally {
    await c.query('DROP DATABASE other');
  }
});

test('the restore killed: the live cluster is untouched, and a rerun restores with --delta into its own side', async () => {
  const m = await point();
  await c.query('INSERT INTO orders (total) VALUES (-1)', 'shop');
  const o = await options(m);
  const plan = await checkPitr(o);
  if (plan.kind !== 'fresh') throw new Error(plan.kind);
  const side = path.join(c.root, 'side');
  let killed = false;
  const killer = setInterval(() => {
    const r = spawnSync('pgrep', ['-o', '-f', `^pgbackrest .*pg1-path=${side} .*restore`], {
      encoding: 'utf8',
    });
    const pid = Number(r.stdout.trim().split('\n')[0]);
    if (pid > 0 && existsSync(path.join(side, 'base'))) {
      process.kill(pid, 'SIGKILL');
      killed = true;
      clearInterval(killer);
    }
  }, 10);
  // The process killed is a restore worker (its options come before "restore:local"); pgBackRest
  // reports its death either by the signal or, when it reads the broken protocol first, as error 39.
  await expect(preparePitr(o, plan)).rejects.toThrow(
    /pgbackrest restore into .* (was killed by SIGKILL|signal 9|exited with code 39 — ERROR: \[039\]: client state is)/,
  );
  clearInterval(killer);
  expect(killed).toBe(true);
  expect(await orders()).toBe(2001);
  const again = await checkPitr(o);
  if (again.kind !== 'fresh') throw new Error(again.kind);
  expect(again.delta).toBe(true);
  await preparePitr(o, again);
  expect(await orders()).toBe(2001);
  // Killed between the two renames of the cut-over: the rerun moves the proven side in.
  await writeState({ ...again.state, phase: 'cutover' }, o.owner);
  await stopServer({ binDir: c.binDir, user: o.owner }, c.dataDir);
  renameSync(c.dataDir, again.state.aside);
  const resumed = await checkPitr(o);
  expect(resumed.kind).toBe('cutover');
  const r = await cutOverPitr(o, resumed.state);
  expect(r.resumed).toEqual(['the live directory was already kept aside; the side is moved in']);
  expect(await orders()).toBe(2000);
  rmSync(again.state.aside, { recursive: true, force: true });
});

describe('cluster-stop-command through the hook runner, past hook-timeout', () => {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const asPostgres = isRoot ? 'runuser -u postgres -- ' : '';

  async function hanging(name: string, stopCommand: string, hookTimeoutMs: number) {
    const side = path.join(c.root, `side-${name}`);
    mkdirSync(side, { recursive: true });
    const state: PitrState = {
      backupId: name,
      pgdata: c.dataDir,
      side,
      aside: `${c.dataDir}.before-${name}`,
      phase: 'cutover',
      updatedAt: new Date().toISOString(),
    };
    const o: CutoverOptions = {
      tools: { binDir: c.binDir, user: await userFor(c.dataDir) },
      connection: connectionFromUrl(c.url('shop')),
      systemIdentifier: '0',
      stopCommand,
      hookTimeoutMs,
      healthTimeoutMs: 60_000,
      owner: await userFor(c.dataDir),
    };
    const error = await cutOver(state, o).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    return { error, state, side };
  }

  test('a stop that hangs is killed at hook-timeout; the live cluster is left running, not replaced', async () => {
    const pidFile = path.join(c.root, 'hang.pid');
    const before = await orders();
    const { error, state, side } = await hanging('hang', `echo $$ > ${pidFile}; sleep 600`, 2000);
    expect(error?.message).toMatch(
      /^cluster-stop-command timed out after 2s; the live cluster was not replaced and still runs on /,
    );
    // The hook and its sleep are gone (killed with their process group).
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const alive = (): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 150 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
    expect(await orders()).toBe(before);
    expect(existsSync(state.aside)).toBe(false);
    expect(existsSync(side)).toBe(true);
    // The marker says the live cluster is untouched: a rerun restores and proves again.
    expect((await readState(c.dataDir))?.phase).toBe('restore');
    rmSync(statePathFor(c.dataDir));
    rmSync(side, { recursive: true });
  });

  test('a stop that stops the cluster and then hangs: killed, and the live cluster is started again', async () => {
    const before = await orders();
    const { error, state, side } = await hanging(
      'stop-hang',
      `${asPostgres}${c.binDir}/pg_ctl stop -m fast -w -D "$PGDATA" && sleep 600`,
      20_000,
    );
    expect(error?.message).toMatch(
      /^cluster-stop-command timed out after 20s; the live cluster had stopped and was started again on .*, not replaced\./,
    );
    expect(await orders()).toBe(before);
    expect(existsSync(state.aside)).toBe(false);
    rmSync(statePathFor(c.dataDir));
    rmSync(side, { recursive: true });
  });
});

test("Debian's layout (configuration outside the data directory): refused before anything changes", async () => {
  const m = await point();
  const marker = (): string | undefined =>
    existsSync(statePathFor(c.dataDir)) ? readFileSync(statePathFor(c.dataDir), 'utf8') : undefined;
  const before = marker();
  const sideBefore = existsSync(path.join(c.root, 'side'));
  const etc = path.join(c.root, 'etc');
  c.sh('mkdir', ['-p', etc]);
  const conf = path.join(etc, 'postgresql.conf');
  const ctl = path.join(c.binDir, 'pg_ctl');
  const log = path.join(c.root, 'debian.log');
  // As pg_ctlcluster starts a Debian cluster: -c config_file=/etc/postgresql/<major>/<name>/postgresql.conf.
  c.sh(ctl, ['stop', '-m', 'fast', '-w', '-D', c.dataDir]);
  c.sh('mv', [path.join(c.dataDir, 'postgresql.conf'), conf]);
  try {
    c.sh(ctl, ['start', '-w', '-D', c.dataDir, '-l', log, '-o', `-c config_file=${conf}`]);
    await expect(checkPitr(await options(m))).rejects.toThrow(
      `The server reads its configuration from ${conf}, outside the data directory ${c.dataDir} (Debian's pg_ctlcluster layout)`,
    );
    expect(marker()).toBe(before);
    expect(existsSync(path.join(c.root, 'side'))).toBe(sideBefore);
  } finally {
    c.sh(ctl, ['stop', '-m', 'fast', '-w', '-D', c.dataDir], true);
    c.sh('mv', [conf, path.join(c.dataDir, 'postgresql.conf')]);
    c.sh(ctl, ['start', '-w', '-D', c.dataDir, '-l', log]);
  }
});

test('the same backup restored with process-max 1 and 2 (in both orders): whole each time (the times are logged, not asserted)', async () => {
  await c.query(
    "CREATE TABLE big AS SELECT g, md5(g::text) AS h, repeat('x', 40) AS pad FROM generate_series(1, 1000000) g",
    'shop',
  );
  try {
    c.pgbackrest('--type=full', '--start-fast', 'backup');
    const m = await point();
    const times: string[] = [];
    for (const processMax of [1, 2, 2, 1]) {
      const dir = path.join(c.root, `pm-${times.length}`);
      const t0 = Date.now();
      await restoreSide({ pgbr: await pgbr(), manifest: m, sideDir: dir, delta: false, processMax });
      times.push(`process-max ${processMax}: ${Date.now() - t0} ms`);
      expect(existsSync(path.join(dir, 'PG_VERSION'))).toBe(true);
      expect(existsSync(path.join(dir, 'global', 'pg_control'))).toBe(true);
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(
      `restore of ${m.pgbackrest.backupLabel} (${JSON.stringify(m.rowCounts)}): ${times.join(', ')}`,
    );
  } finally {
    await c.query('DROP TABLE big', 'shop');
  }
});
