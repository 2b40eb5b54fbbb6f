import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';

import { PgBackRest, userFor } from '../../src/pgbackrest/command';
import { readPitrManifestFile } from '../../src/pgbackrest/manifest';
import { checkRepositoryHolds } from '../../src/pgbackrest/repository';
import { withClient } from '../../src/postgres/client';
import { countRows, fingerprintTables } from '../../src/postgres/fingerprint';
import { connectionFromUrl } from '../../src/postgres/server-parse';
import { runAction, type ActionResult } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { SUPERUSER_PASSWORD } from '../harness/postgres';

// `engine: pgbackrest` + `evidence: background` with WAL archiving broken, through the bundle. In
// background mode `pgbackrest check` is not run: the point's own archive wait is the check. Broken
// before the step (already failing, failing only from the point's WAL switch on, or hanging), the
// step fails with no manifest and the background process is gone; broken after the step returned
// `running`, the point's WAL is already in the repository and the evidence completes.
let c: PgBackRestCluster;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-bgfaults');
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
     INSERT INTO orders (total) SELECT g FROM generate_series(1, 2000) g;
     CREATE TABLE held (id int);
     INSERT INTO held SELECT generate_series(1, 10);`,
    'shop',
  );
}, 180_000);

afterAll(() => c?.stop());

const inputs = (outputDir: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'database-url': c.url('shop'),
  engine: 'pgbackrest',
  'pgbackrest-stanza': c.stanza,
  'pgbackrest-config': c.config,
  'protected-tables': 'orders',
  'output-dir': outputDir,
  evidence: 'background',
  ...extra,
});

/** pgBackRest's own archive-push, into a repository path that does not exist: every push fails. */
const broken = (): string =>
  `pgbackrest --config=${c.config} --stanza=${c.stanza} --repo1-path=/nonexistent/mg-repo archive-push %p`;

async function setArchiveCommand(command: string | undefined): Promise<void> {
  await c.query(
    command === undefined
      ? 'ALTER SYSTEM RESET archive_command'
      : `ALTER SYSTEM SET archive_command = '${command.replace(/'/g, "''")}'`,
  );
  await c.query('SELECT pg_reload_conf()');
  const want = command ?? `pgbackrest --config=${c.config} --stanza=${c.stanza} archive-push %p`;
  for (let i = 0; i < 100; i++) {
    const [s] = await c.query<{ cmd: string }>("SELECT current_setting('archive_command') AS cmd");
    if (s?.cmd === want) return;
    await sleep(50);
  }
  throw new Error(`archive_command did not become ${want}`);
}

const failures = async (): Promise<number> =>
  Number((await c.query<{ f: string }>('SELECT failed_count AS f FROM pg_stat_archiver'))[0]?.f);

/** Writes a little WAL, switches, and waits until the archiver has failed once more. */
async function failAnother(): Promise<void> {
  const before = await failures();
  await c.query('CREATE TABLE IF NOT EXISTS wal_filler (g int); INSERT INTO wal_filler VALUES (1);', 'shop');
  await c.query('SELECT pg_switch_wal()');
  for (let i = 0; i < 300 && (await failures()) <= before; i++) await sleep(100);
  if ((await failures()) <= before) throw new Error('the archiver did not fail');
}

/** pgBackRest's archive_command again, and a segment archived after the last failure. */
async function repairArchiving(): Promise<void> {
  await setArchiveCommand(undefined);
  await c.query('DROP TABLE IF EXISTS wal_filler', 'shop');
  await c.query('SELECT pg_switch_wal()');
  for (let i = 0; i < 900; i++) {
    const [a] = await c.query<{ ok: boolean | null }>(
      'SELECT last_failed_time IS NULL OR last_archived_time >= last_failed_time AS ok FROM pg_stat_archiver',
    );
    if (a?.ok) return;
    await sleep(100);
  }
  throw new Error('archiving did not recover');
}

/** What production holds: the protected table's fingerprint and every table's row count. */
async function liveState(): Promise<unknown> {
  return withClient(
    connectionFromUrl(c.url('shop')),
    async (client) => ({
      orders: (await fingerprintTables(client, ['public.orders'], { sequences: false })).map((f) => [
        f.rows,
        f.hash,
      ]),
      counts: await countRows(client, ['public.orders', 'public.held']),
    }),
    { stableOutput: true },
  );
}

/** Live processes started for this backup id's background evidence (any, whatever their pid). */
function backgroundProcesses(id: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!env.includes('MIGRATION_GUARD_BACKGROUND_BACKUP=') || !env.includes(id)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not readable.
    }
  }
  return found;
}

/** The id of a failed step (its backup-id output is empty): from its summary's first line. */
function failedId(r: ActionResult): string {
  const id = /Recovery point (shop-\S+) of shop failed/.exec(r.summary)?.[1];
  if (!id) throw new Error(`no failed recovery point in the summary: ${r.summary.slice(0, 300)}`);
  return id;
}

async function advisoryLocks(): Promise<number> {
  const [r] = await c.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'",
  );
  return r?.n ?? -1;
}

/** No secret, in any form, in any text the runs produced. */
function expectNoSecret(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(SUPERUSER_PASSWORD);
    expect(text).not.toContain(encodeURIComponent(SUPERUSER_PASSWORD));
    expect(text).not.toContain('p@ss');
  }
}

/**
 * The invariants after a failed recovery point step: production unchanged, no manifest (final or
 * partial) and no handed-over basis left, the lock released, no background process left, one
 * clear error line, no secret anywhere.
 */
async function expectFailedCleanly(
  r: ActionResult,
  outputDir: string,
  before: unknown,
  error: RegExp,
): Promise<string> {
  expect(r.exitCode).not.toBe(0);
  expect(r.outputs.status).toBe('failed');
  expect(r.outputs['manifest-path']).toBe('');
  expect(r.outputs['backup-id']).toBe('');
  expect(r.errors).toHaveLength(1);
  expect(r.errors[0]).toMatch(error);
  const id = failedId(r);
  expect(r.summary.split('\n')[0]).toMatch(error);
  const left = existsSync(outputDir) ? readdirSync(outputDir) : [];
  expect(left.filter((f) => /manifest|basis|partial/.test(f))).toEqual([]);
  expect(backgroundProcesses(id)).toEqual([]);
  expect(await liveState()).toEqual(before);
  expect(await advisoryLocks()).toBe(0);
  const log = path.join(outputDir, `${id}.background.log`);
  expectNoSecret(r.logs, r.summary, existsSync(log) ? readFileSync(log, 'utf8') : '');
  return id;
}

/** How long a phase of the step took, in ms (from the summary's chart). */
function phaseMs(r: ActionResult, name: string): number | undefined {
  const m = new RegExp(`^  ${name} [^:]* :[a-z, ]*p\\d+, \\d+, (\\d+)ms$`, 'm').exec(r.summary);
  return m ? Number(m[1]) : undefined;
}

/**
 * After the point: the process was stopped, and what it leaves is its record (failed, no manifest)
 * and its log, so a wait-for step can say what happened.
 */
function expectStoppedRecord(out: string, id: string): void {
  expect(readdirSync(out).sort()).toEqual([`${id}.background.json`, `${id}.background.log`]);
  const record = JSON.parse(readFileSync(path.join(out, `${id}.background.json`), 'utf8')) as {
    status: string;
    point?: unknown;
    pitr?: unknown;
  };
  expect(record.status).toBe('failed');
  expect(record.point).toBeDefined();
  expect(record.pitr).toBeUndefined();
}

/** wait-for on the id of a step that failed: fails at once, with what it found. */
async function expectWaitFails(id: string, outputDir: string, error: RegExp): Promise<void> {
  const t0 = Date.now();
  const wait = await runAction(
    'backup',
    { 'wait-for': id, 'output-dir': outputDir, 'wait-timeout': '5m' },
    { timeoutMs: 60_000 },
  );
  console.log(`wait-for ${id} after the failed step: failed in ${Date.now() - t0} ms`);
  expect(wait.signal).toBeNull();
  expect(wait.exitCode).not.toBe(0);
  expect(wait.outputs.status).toBe('failed');
  expect(wait.outputs['manifest-path'] ?? '').toBe('');
  expect(wait.errors).toHaveLength(1);
  expect(wait.errors[0]).toMatch(error);
  expect(existsSync(path.join(outputDir, `${id}.manifest.json`))).toBe(false);
  expectNoSecret(wait.logs, wait.summary);
}

describe('WAL archiving broken before the step', () => {
  afterEach(async () => {
    await repairArchiving();
  }, 120_000);

  test('already failing: refused in the preflight, the background process killed and its files removed', async () => {
    const out = `${c.root}/out-failing`;
    const before = await liveState();
    await setArchiveCommand(broken());
    await failAnother();
    const t0 = Date.now();
    const r = await runAction('backup', inputs(out));
    const ms = Date.now() - t0;
    const id = await expectFailedCleanly(
      r,
      out,
      before,
      /WAL archiving to pgBackRest is not healthy: the last archive attempt failed \(\w+ at .*\); see the server log\. Nothing was changed\./,
    );
    console.log(
      `archiving already failing: the step failed after ${ms} ms (duration-seconds ${r.outputs['duration-seconds']})`,
    );
    // Nothing was done before the point: the process and every file it had are gone.
    expect(readdirSync(out)).toEqual([]);
    await expectWaitFails(id, out, new RegExp(`No background backup ${id} in ${out}`));
  }, 240_000);

  test('failing from the point on: the archive wait sees the failure, the evidence process is stopped, wait-for says why', async () => {
    const out = `${c.root}/out-broken`;
    const before = await liveState();
    // Broken, but nothing has tried to archive since: the preflight sees a healthy archiver.
    await setArchiveCommand(broken());
    const failed = await failures();
    const t0 = Date.now();
    const r = await runAction('backup', inputs(out));
    const ms = Date.now() - t0;
    expect(await failures()).toBeGreaterThan(failed);
    const id = await expectFailedCleanly(
      r,
      out,
      before,
      /Archiving WAL segment [0-9A-F]{24} failed \([0-9A-F]{24} at .*\); the restore point cannot be trusted until its WAL is in the repository/,
    );
    console.log(
      `archiving broken at the point: the step failed after ${ms} ms (duration-seconds ${r.outputs['duration-seconds']}; restore point ${phaseMs(r, 'Restore point')} ms, archive wait ${phaseMs(r, 'Archived')} ms until the failure)`,
    );
    // The point was written; the archive wait after it failed.
    expect(phaseMs(r, 'Restore point')).toBeDefined();
    expect(r.summary).toContain('<td>Archived</td><td>❌ failed</td>');
    expectStoppedRecord(out, id);
    await expectWaitFails(
      id,
      out,
      new RegExp(
        `The background backup ${id} failed: it was stopped because the recovery point step that started it failed: Archiving WAL segment [0-9A-F]{24} failed`,
      ),
    );
  }, 240_000);

  test('hanging: the archive wait ends at the timeout input, the evidence process is stopped', async () => {
    const out = `${c.root}/out-hang`;
    const release = path.join(c.root, 'release-archiver');
    const before = await liveState();
    // archive-push of pgBackRest, after a wait nothing ends but the test (a repository that hangs).
    await setArchiveCommand(
      `while [ ! -e ${release} ]; do sleep 0.1; done; pgbackrest --config=${c.config} --stanza=${c.stanza} archive-push %p`,
    );
    try {
      const t0 = Date.now();
      const r = await runAction('backup', inputs(out, { timeout: '3s' }));
      const ms = Date.now() - t0;
      const id = await expectFailedCleanly(
        r,
        out,
        before,
        /WAL segment [0-9A-F]{24} was not archived within 3s \(last archived: [0-9A-F]{24}; no attempt failed: archive_command hangs or is slower than that\); the restore point cannot be trusted/,
      );
      console.log(
        `archiving hanging, timeout 3s: the step failed after ${ms} ms (duration-seconds ${r.outputs['duration-seconds']}; archive wait ${phaseMs(r, 'Archived')} ms)`,
      );
      expectStoppedRecord(out, id);
      await expectWaitFails(
        id,
        out,
        new RegExp(
          `The background backup ${id} failed: it was stopped because the recovery point step that started it failed: WAL segment [0-9A-F]{24} was not archived within 3s`,
        ),
      );
    } finally {
      writeFileSync(release, '');
    }
  }, 240_000);
});

describe('archiving breaks after the step returned running', () => {
  let holder: pg.Client;
  let held = false;

  /**
   * The step, with the evidence held back by a lock on a table it counts: it returns `running`
   * (the point's segment archived) while the evidence process still reads.
   */
  async function runningStep(out: string): Promise<{ r: ActionResult; id: string; segment: string }> {
    holder = new pg.Client({ connectionString: c.url('shop') });
    await holder.connect();
    await holder.query('BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    held = true;
    const r = await runAction('backup', inputs(out));
    expect(r.errors).toEqual([]);
    expect(r.outputs.status).toBe('running');
    const id = r.outputs['backup-id']!;
    const state = JSON.parse(readFileSync(path.join(out, `${id}.background.json`), 'utf8')) as {
      status: string;
      point?: { segment: string };
    };
    expect(state.status).toBe('running');
    expect(backgroundProcesses(id)).toHaveLength(1);
    return { r, id, segment: state.point!.segment };
  }

  async function release(): Promise<void> {
    await holder.query('COMMIT');
    held = false;
  }

  afterEach(async () => {
    if (held) await holder.query('ROLLBACK').catch(() => undefined);
    held = false;
    await holder?.end();
    await repairArchiving();
  }, 120_000);

  test('archive-push failing from then on: the point is archived, the evidence completes and the repository holds its WAL', async () => {
    const out = `${c.root}/out-after`;
    const before = await liveState();
    const { r, id, segment } = await runningStep(out);
    await setArchiveCommand(broken());
    await failAnother();
    const [a] = await c.query<{ fw: string }>('SELECT last_failed_wal AS fw FROM pg_stat_archiver');
    expect(a!.fw > segment).toBe(true);
    await release();

    const t0 = Date.now();
    const wait = await runAction('backup', { 'wait-for': id, 'output-dir': out }, { timeoutMs: 120_000 });
    console.log(`wait-for after archiving broke: ${wait.outputs.status} in ${Date.now() - t0} ms`);
    expect(wait.errors).toEqual([]);
    expect(wait.outputs.status).toBe('verified');
    const manifest = await readPitrManifestFile(wait.outputs['manifest-path']!);
    expect(manifest.restorePoint.segment).toBe(segment);
    expect(manifest.rowCounts['public.held']).toBe(10);
    // The repository holds the base backup and every segment up to the point's.
    const pgbr = new PgBackRest({ stanza: c.stanza, config: c.config, user: await userFor(c.dataDir) });
    await expect(checkRepositoryHolds(pgbr, manifest)).resolves.toContain(`up to ${segment}`);
    expect(backgroundProcesses(id)).toEqual([]);
    expect(await liveState()).toEqual(before);
    expect(await advisoryLocks()).toBe(0);
    expectNoSecret(
      r.logs,
      r.summary,
      wait.logs,
      wait.summary,
      readFileSync(path.join(out, `${id}.background.log`), 'utf8'),
    );
  }, 300_000);

  test('the repository gone: the evidence process fails, naming the segment it no longer finds, and leaves no manifest', async () => {
    const out = `${c.root}/out-repo-gone`;
    const before = await liveState();
    const { r, id, segment } = await runningStep(out);
    const aside = `${c.repoDir}.gone`;
    renameSync(c.repoDir, aside);
    try {
      await release();
      const t0 = Date.now();
      const wait = await runAction('backup', { 'wait-for': id, 'output-dir': out }, { timeoutMs: 120_000 });
      console.log(
        `wait-for with the repository gone: ${wait.outputs.status} in ${Date.now() - t0} ms: ${wait.errors[0] ?? ''}`,
      );
      expect(wait.exitCode).not.toBe(0);
      expect(wait.outputs.status).toBe('failed');
      expect(wait.outputs['manifest-path'] ?? '').toBe('');
      expect(wait.errors).toHaveLength(1);
      expect(wait.errors[0]).toMatch(
        new RegExp(
          `The background backup ${id} failed: The server reports WAL segment ${segment} archived, but stanza "main" does not hold it \\(archive [\\w-]+\\)\\. Its log: `,
        ),
      );
      expect(readdirSync(out).filter((f) => /manifest/.test(f))).toEqual([]);
      expect(backgroundProcesses(id)).toEqual([]);
      expect(await liveState()).toEqual(before);
      expect(await advisoryLocks()).toBe(0);
      expectNoSecret(
        r.logs,
        r.summary,
        wait.logs,
        wait.summary,
        readFileSync(path.join(out, `${id}.background.log`), 'utf8'),
      );
    } finally {
      renameSync(aside, c.repoDir);
    }
  }, 300_000);
});
