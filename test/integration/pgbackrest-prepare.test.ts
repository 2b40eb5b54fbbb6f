import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { isAlive } from '../../src/process/detached';
import { runAction } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

// `prepare: background`: the pitr rollback's restore and proof run while the migration runs, in a
// detached process of the rollback bundle, so a rollback verdict only needs the cut-over. What is
// checked: the preparation waits for a manifest still being written, never touches the live
// cluster, a rollback with the same manifest skips the restore and the proof (and waits for a
// preparation still running), a side changed after its proof is restored again, `prepare: stop`
// ends a preparation, and a place the rollback could not use is refused before anything starts.
let c: PgBackRestCluster;
let sidePort: string;

interface Record_ {
  pid: number;
  procStart?: string;
  status: string;
  detail?: string;
  side: string;
  log: string;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const record = (): Record_ | undefined =>
  existsSync(`${c.dataDir}.pitr-prepare.json`)
    ? (JSON.parse(readFileSync(`${c.dataDir}.pitr-prepare.json`, 'utf8')) as Record_)
    : undefined;
const marker = (): { phase: string; backupId: string; prepared?: { proof: string } } =>
  JSON.parse(readFileSync(`${c.dataDir}.pitr-rollback.json`, 'utf8')) as {
    phase: string;
    backupId: string;
    prepared?: { proof: string };
  };

async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(record())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const orders = async (): Promise<number> =>
  (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM orders', 'shop'))[0]!.n;

const backupInputs = (evidence: 'now' | 'background'): Record<string, string> => ({
  'database-url': c.url('shop'),
  engine: 'pgbackrest',
  'pgbackrest-stanza': c.stanza,
  'pgbackrest-config': c.config,
  'protected-tables': 'orders',
  'output-dir': `${c.root}/manifests`,
  evidence,
});

const pitr = (manifest: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'database-url': c.url('shop'),
  manifest,
  strategy: 'pitr',
  pgdata: c.dataDir,
  'side-port': sidePort,
  ...extra,
});

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-prepare');
  sidePort = String(await freePort());
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL, note text);
     INSERT INTO orders (total, note) SELECT g, md5(g::text) FROM generate_series(1, 200000) g;`,
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

test('prepared while the migration runs: the rollback with the same manifest only cuts over', async () => {
  const backup = await runAction('backup', backupInputs('background'));
  expect(backup.errors).toEqual([]);
  expect(backup.outputs.status).toBe('running');
  const pending = backup.outputs['pending-manifest-path']!;
  expect(pending).toMatch(/\.manifest\.json$/);

  const prepare = await runAction('rollback', pitr(pending, { prepare: 'background' }));
  expect(prepare.errors).toEqual([]);
  expect(prepare.exitCode).toBe(0);
  expect(prepare.outputs.preparation).toBe('running');
  expect(prepare.summary.split('\n')[0]).toMatch(/^<h2>⏳ Rollback being prepared in the background: /);

  // The migration, while the evidence is read and the side is prepared.
  await c.query('DELETE FROM orders WHERE id > 1000; CREATE TABLE migrated (x int);', 'shop');
  const wait = await runAction('backup', {
    'output-dir': `${c.root}/manifests`,
    'wait-for': backup.outputs['backup-id']!,
  });
  expect(wait.outputs['manifest-path']).toBe(pending);
  await until('the side prepared', () => record()?.status === 'prepared');
  expect(marker()).toMatchObject({ phase: 'prepared', backupId: backup.outputs['backup-id'] });
  expect(marker().prepared?.proof).toMatch(/1 fingerprint/);
  // Nothing live changed meanwhile: the migration's writes are still there.
  expect(await orders()).toBe(1000);

  const rollback = await runAction('rollback', pitr(pending));
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  const phases = JSON.parse(rollback.outputs['phases-json']!) as {
    phases: { name: string; status: string }[];
  };
  expect(phases.phases.find((p) => p.name === 'restore')?.status).toBe('skipped');
  expect(phases.phases.find((p) => p.name === 'checks')?.status).toBe('skipped');
  expect(rollback.summary).toMatch(/prepared in the background before the verdict \(restore [\d.]+s/);
  expect(rollback.summary).toMatch(/proven when prepared, at /);
  expect(rollback.logs).not.toMatch(/pgbackrest restore/);
  expect(await orders()).toBe(200000);
  expect(await c.query("SELECT 1 FROM pg_class WHERE relname = 'migrated'", 'shop')).toEqual([]);
  expect(marker().phase).toBe('done');
  for (const text of [prepare.logs, rollback.logs, readFileSync(record()!.log, 'utf8')])
    expect(text).not.toContain('p@ss');
}, 300_000);

test('a rollback that comes while the side is being prepared waits for it; a side started after its proof is restored again', async () => {
  const atPoint = await orders();
  const backup = await runAction('backup', backupInputs('now'));
  expect(backup.errors).toEqual([]);
  const manifest = backup.outputs['manifest-path']!;
  // The manifest reaches the preparation's path only now, as a background backup's would.
  const later = path.join(c.root, 'later', path.basename(manifest));
  mkdirSync(path.dirname(later), { recursive: true });
  const prepare = await runAction('rollback', pitr(later, { prepare: 'background' }));
  expect(prepare.outputs.preparation).toBe('running');
  expect(record()?.status).toBe('waiting');
  await c.query('DELETE FROM orders WHERE id > 500', 'shop');
  copyFileSync(manifest, later);
  const rollback = await runAction('rollback', pitr(later));
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(rollback.logs).toMatch(/Waiting \d+s for the rollback being prepared in the background \(pid \d+/);
  expect(rollback.summary).toMatch(/prepared in the background before the verdict/);
  expect(await orders()).toBe(atPoint);

  // Prepared again for a new point; then someone starts and stops the side: it is not used as proven.
  const again = await runAction('backup', backupInputs('now'));
  const m2 = again.outputs['manifest-path']!;
  const p2 = await runAction('rollback', pitr(m2, { prepare: 'background' }));
  expect(p2.outputs.preparation).toBe('running');
  await until('the side prepared', () => record()?.status === 'prepared');
  const side = record()!.side;
  const asOwner = (args: string[]): void => {
    const r = spawnSync(
      isRoot ? 'runuser' : path.join(c.binDir, 'pg_ctl'),
      isRoot ? ['-u', 'postgres', '--', path.join(c.binDir, 'pg_ctl'), ...args] : args,
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
  };
  asOwner([
    'start',
    '-w',
    '-D',
    side,
    '-l',
    `${side}.manual.log`,
    '-o',
    `-p ${sidePort} -c archive_command=''`,
  ]);
  asOwner(['stop', '-m', 'fast', '-w', '-D', side]);
  await c.query('DELETE FROM orders WHERE id > 700', 'shop');
  const rollback2 = await runAction('rollback', pitr(m2));
  expect(rollback2.errors).toEqual([]);
  expect(rollback2.outputs.verdict).toBe('restored');
  expect(rollback2.summary).toMatch(/The side prepared earlier was not used: it changed since it was proven/);
  const phases = JSON.parse(rollback2.outputs['phases-json']!) as {
    phases: { name: string; status: string }[];
  };
  expect(phases.phases.find((p) => p.name === 'restore')?.status).toBe('ok');
  expect(rollback2.logs).toMatch(/delta restore into/);
  expect(await orders()).toBe(atPoint);
}, 400_000);

test('prepare: stop ends a preparation still waiting; a place the rollback cannot use is refused before anything starts', async () => {
  const never = path.join(c.root, 'never', 'x.manifest.json');
  mkdirSync(path.dirname(never), { recursive: true });
  const prepare = await runAction('rollback', pitr(never, { prepare: 'background' }));
  expect(prepare.outputs.preparation).toBe('running');
  const r = record()!;
  expect(isAlive(r)).toBe(true);

  // A second one on the same cluster is refused, naming the first.
  const second = await runAction('rollback', pitr(never, { prepare: 'background' }));
  expect(second.exitCode).not.toBe(0);
  expect(second.outputs.preparation).toBe('refused');
  expect(second.logs).toContain(`A rollback is already being prepared on ${c.dataDir} (pid ${r.pid}`);

  const stop = await runAction('rollback', pitr(never, { prepare: 'stop' }));
  expect(stop.errors).toEqual([]);
  expect(stop.outputs.preparation).toBe('stopped');
  expect(stop.summary.split('\n')[0]).toMatch(/^<h2>⏹️ Rollback preparation stopped/);
  expect(isAlive(r)).toBe(false);
  expect(record()?.status).toBe('stopped');

  // The side's folder taken by something else: refused, no process started, the record unchanged.
  const before = readFileSync(`${c.dataDir}.pitr-prepare.json`, 'utf8');
  const foreign = path.join(c.root, 'foreign-side');
  mkdirSync(foreign, { recursive: true });
  copyFileSync(c.config, path.join(foreign, 'keep.conf'));
  const refused = await runAction('rollback', pitr(never, { prepare: 'background', 'side-pgdata': foreign }));
  expect(refused.exitCode).not.toBe(0);
  expect(refused.outputs.preparation).toBe('refused');
  expect(refused.logs).toContain(`Input "side-pgdata" ${foreign} exists and is not empty`);
  expect(readFileSync(`${c.dataDir}.pitr-prepare.json`, 'utf8')).toBe(before);

  // prepare needs strategy pitr: refused by name.
  const swap = await runAction('rollback', { ...pitr(never, { prepare: 'background' }), strategy: 'swap' });
  expect(swap.outputs.verdict).toBe('refused');
  expect(swap.logs).toContain('Input "prepare" is "background", which needs strategy: pitr (got "swap").');
}, 200_000);

test('a rollback to another point stops a preparation waiting for its own manifest, and restores by itself', async () => {
  const atPoint = await orders();
  const backup = await runAction('backup', backupInputs('now'));
  expect(backup.errors).toEqual([]);
  const elsewhere = path.join(c.root, 'elsewhere', 'y.manifest.json');
  mkdirSync(path.dirname(elsewhere), { recursive: true });
  const prepare = await runAction('rollback', pitr(elsewhere, { prepare: 'background' }));
  expect(prepare.outputs.preparation).toBe('running');
  const waiting = record()!;
  await c.query('DELETE FROM orders WHERE id > 300', 'shop');
  const rollback = await runAction('rollback', pitr(backup.outputs['manifest-path']!));
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(rollback.summary).toContain(
    `A background preparation for another manifest (${elsewhere}, pid ${waiting.pid}) was running and was stopped`,
  );
  expect(isAlive(waiting)).toBe(false);
  expect(record()?.status).toBe('stopped');
  expect(await orders()).toBe(atPoint);
}, 200_000);
