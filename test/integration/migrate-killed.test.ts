import { execFileSync } from 'node:child_process';

import { runShell } from '../../src/process/runner';
import { useCluster } from '../harness/postgres';

import { freshDatabase, marker, markerDir, runMigrate } from './migrate-support';

const fx = useCluster('migrate-killed');

/** Processes whose command line contains `tag` (the step's own, identified by a unique argument). */
function processesWith(tag: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(tag) && !line.includes('ps -eo'));
}

test('a migrate action killed with SIGKILL takes its running step with it: the write after the sleep never happens', async () => {
  const db = await freshDatabase(fx.cluster, 'killed');
  await fx.cluster.query(`COMMENT ON DATABASE "${db}" IS 'the shop'`);
  const mark = markerDir();
  // A unique sleep length identifies the step's process in `ps`.
  const tag = `${7 + (process.pid % 1000) / 1000}`;
  let killedAt = 0;
  const result = await runMigrate(
    {
      'database-url': fx.cluster.url(db),
      steps: [
        `write: touch "$MARK/started"; sleep ${tag}; psql -X -q -c 'CREATE TABLE written_after_kill (x int)'; touch "$MARK/written"`,
      ].join('\n'),
    },
    mark,
    {
      onStart: (child) => {
        const timer = setInterval(() => {
          if (marker(mark, 'started')) {
            clearInterval(timer);
            killedAt = Date.now();
            child.kill('SIGKILL');
          }
        }, 20);
        child.on('close', () => clearInterval(timer));
      },
    },
  );
  expect(result.signal).toBe('SIGKILL');
  expect(killedAt).toBeGreaterThan(0);
  // The step's process is gone at once, not after its sleep.
  await new Promise((r) => setTimeout(r, 500));
  expect(processesWith(`sleep ${tag}`)).toEqual([]);
  // Past the moment the step would have written.
  await new Promise((r) => setTimeout(r, Math.max(0, killedAt + Number(tag) * 1000 + 2000 - Date.now())));
  expect(marker(mark, 'written')).toBe(false);
  const tables = await fx.cluster.query("SELECT 1 FROM pg_class WHERE relname = 'written_after_kill'", db);
  expect(tables).toEqual([]);
  // The lock died with the action's connection: a new run takes it.
  const locks = await fx.cluster.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'");
  expect(locks).toEqual([]);
  // The next run sees the killed one (its marker on the server) and says where it stopped.
  const again = await runMigrate({ 'database-url': fx.cluster.url(db), steps: 'noop: true' }, mark);
  expect(again.outputs.status).toBe('succeeded');
  const seen =
    /An earlier migration run \(migrate run 4242\.1 by octocat, started [^)]+\) ended without a report, during "write": it was killed\. A step had started: the database may be half-migrated/;
  expect(again.logs).toMatch(seen);
  expect(again.summary).toContain('ended without a report, during "write": it was killed.');
  // Each run that reports takes its marker away and gives the database its own comment back.
  const comment = async (): Promise<unknown> =>
    (
      await fx.cluster.query<{ c: string | null }>(
        "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
        'postgres',
        [db],
      )
    )[0]?.c;
  expect(await comment()).toBe('the shop');
  const third = await runMigrate({ 'database-url': fx.cluster.url(db), steps: 'noop: true' }, mark);
  expect(third.logs).not.toContain('An earlier migration run');
  expect(await comment()).toBe('the shop');
}, 60000);

test('a command that leaves a service running on purpose keeps it once the command has ended', async () => {
  const tag = `${20 + (process.pid % 1000) / 1000}`;
  const r = await runShell(`sleep ${tag} </dev/null >/dev/null 2>&1 &`, { dieWithParent: true });
  expect(r.exitCode).toBe(0);
  await new Promise((res) => setTimeout(res, 300));
  const left = processesWith(`sleep ${tag}`);
  expect(left).toHaveLength(1);
  process.kill(Number(left[0]?.trim().split(' ')[0]), 'SIGKILL');
});

test('a wrapped command killed by a signal is reported as killed by it', async () => {
  const r = await runShell('kill -TERM $$', { dieWithParent: true });
  expect(r.signal).toBe('SIGTERM');
});
