import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { readEvidenceFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { compareFingerprints, countRows } from '../../src/postgres/fingerprint';
import { ROOT } from '../harness/action';
import { SUPERUSER_PASSWORD } from '../harness/postgres';
import type { RunResult } from '../harness/workflow/types';

import { startCustomer } from './customer';
import { BYPASS_TOKEN, startProduction, type Production } from './procedure';

/**
 * A release whose migration also rewrites the orders (a protected table): v2.0 with one more plan
 * step, tagged in the shop's repository. Its migration succeeds and its validation says rollback.
 */
function tagRepricingRelease(appDir: string, tag: string): void {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=FREESPORT Release', '-c', 'user.email=release@freesport.example', ...args],
      { cwd, stdio: 'pipe' },
    );
  const tree = path.join(mkdtempSync(path.join(os.tmpdir(), 'mg-release-')), 'tree');
  git(appDir, 'worktree', 'add', '-q', '--detach', tree, 'v2.0');
  try {
    appendFileSync(
      path.join(tree, 'migration-plan.yml'),
      `  - name: reprice orders
    run: '"\${PYTHON:-python3}" manage.py shell -c "from django.db import connection; connection.cursor().execute(''UPDATE orders SET total_amount = total_amount + 1'')"'
    timeout: 5m
`,
    );
    git(tree, 'commit', '-q', '-am', 'Release 2.0 with repriced orders');
    git(tree, 'tag', tag);
  } finally {
    git(appDir, 'worktree', 'remove', '--force', tree);
    rmSync(path.dirname(tree), { recursive: true, force: true });
  }
}

/**
 * The production procedure as written, with BACKUP_ENGINE pgbackrest: the shop's database lives in a
 * cluster that archives WAL to a pgBackRest repository; the recovery point is a restore point and
 * the rollback a point-in-time restore of the cluster, proven beside it, then cut over.
 */
describe('Production migration workflow with the pgBackRest engine', () => {
  let prod: Production;
  const seen: string[] = [];

  beforeAll(async () => {
    prod = await startProduction({ engine: 'pgbackrest' });
    tagRepricingRelease(prod.shop.dir, 'v2.0-repriced');
  }, 600_000);
  afterAll(async () => {
    await prod?.stop();
  });

  function keep(title: string, r: RunResult): void {
    const logs = path.join(ROOT, '.tmp', 'workflow-logs');
    mkdirSync(logs, { recursive: true });
    for (const job of Object.values(r.jobs)) {
      seen.push(job.rawLog, job.summary, JSON.stringify(job.outputs));
      writeFileSync(
        path.join(logs, `${title.replace(/\W+/g, '-')}-${job.id.replace(/\//g, '--')}.log`),
        job.log,
      );
    }
    seen.push(JSON.stringify(r.thirdParty));
  }

  const migrateJob = (r: RunResult) => r.jobs['migration/migrate'];
  const step = (r: RunResult, id: string) => migrateJob(r)?.steps.find((s) => s.id === id);

  it('verdict rollback: the cluster is restored to the restore point, customers’ orders kept, the migration gone', async () => {
    const customer = startCustomer(prod.shop.url, { stopAtMaintenance: true });
    const r = await prod.run(
      'production-migration.yml',
      { 'release-ref': 'v2.0-repriced', 'previous-ref': 'v1.0', 'dry-run': false },
      'approve',
    );
    keep('pgbackrest rollback', r);
    const report = await customer.stop();

    // The reviewers were told which engine and what is closed.
    const plan = r.jobs['migration/plan']?.summary ?? '';
    expect(plan).toContain('**Backup engine:** pgbackrest.');
    expect(plan).toContain('the restore point only');

    const point = step(r, 'recovery-point');
    expect(point?.outcome).toBe('success');
    const backupId = point?.outputs['backup-id'] ?? '';
    expect(backupId).not.toBe('');
    // The closed window held the restore point only: the evidence was read in the background and
    // "Backup verified and offsite" waited for it.
    expect(point?.outputs.status).toBe('running');
    expect(point?.outputs['manifest-path']).toBe('');
    expect(step(r, 'backup')?.outputs.status).toBe('verified');
    const manifestPath = step(r, 'backup')?.outputs['manifest-path'] ?? '';
    const evidence = await readEvidenceFile(manifestPath);
    expect(evidence).toMatchObject({ format: 2, engine: 'pgbackrest', database: 'shop' });

    expect(step(r, 'migrate')?.outcome).toBe('success');
    expect(step(r, 'validate')?.outputs.verdict).toBe('rollback');
    expect(step(r, 'validate')?.outputs['failed-checks']).toBe('protected-tables');
    // The rollback was prepared while the migration ran: the verdict's rollback only cut over.
    expect(step(r, 'prepare-rollback')?.outputs.preparation).toBe('running');
    const rollback = step(r, 'rollback');
    expect(rollback?.outputs.verdict).toBe('restored');
    const phases = JSON.parse(rollback?.outputs['phases-json'] ?? '{}') as {
      phases: { name: string; status: string }[];
    };
    expect(phases.phases.filter((p) => ['restore', 'checks'].includes(p.name)).map((p) => p.status)).toEqual([
      'skipped',
      'skipped',
    ]);
    expect(migrateJob(r)?.summary).toContain('prepared in the background before the verdict');
    expect(step(r, 'end-preparation')?.outcome).toBe('skipped');
    expect(r.jobs.migration?.outputs['rollback-verdict']).toBe('restored');
    expect(migrateJob(r)?.summary).toContain('Rolled back (restored');
    expect(step(r, 'open')?.outcome).toBe('success');
    expect(r.conclusion).toBe('failure');

    // The data directory replaced by the restored one is kept beside it.
    expect(existsSync(`${prod.pgbackrest?.dataDir ?? ''}.before-${backupId}`)).toBe(true);
    // The customers' orders made before maintenance are back; the repricing and v2.0's schema are gone.
    expect(report.acceptedOrderIds.length).toBeGreaterThan(0);
    expect(report.errors).toEqual([]);
    const kept = await prod.cluster.query<{ id: number }>(
      'SELECT id FROM orders WHERE id = ANY($1::int[])',
      'shop',
      [report.acceptedOrderIds],
    );
    expect(kept.map((o) => Number(o.id)).sort((a, b) => a - b)).toEqual(
      [...report.acceptedOrderIds].sort((a, b) => a - b),
    );
    expect(compareFingerprints(evidence.fingerprints, await prod.protectedState())).toEqual([]);
    const counts = await withClient(connectionFromUrl(prod.cluster.url('shop')), (c) =>
      countRows(c, Object.keys(evidence.rowCounts)),
    );
    expect(counts).toEqual(evidence.rowCounts);
    expect(
      await prod.cluster.query("SELECT 1 FROM pg_class WHERE relname = 'product_variants'", 'shop'),
    ).toEqual([]);
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
  }, 900_000);

  let passManifest = '';
  let passPreparation = '';

  it('approved on the new timeline: v2.0 is live with verdict pass, validated against the format-2 manifest', async () => {
    const r = await prod.run(
      'production-migration.yml',
      { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': false },
      'approve',
    );
    keep('pgbackrest pass', r);
    expect(step(r, 'validate')?.outputs.verdict).toBe('pass');
    expect(step(r, 'rollback')?.outcome).toBe('skipped');
    expect(r.conclusion).toBe('success');
    expect(await prod.release()).toBe('2.0');
    expect(await prod.maintenance()).toBe(false);
    expect(step(r, 'recovery-point')?.outputs.status).toBe('running');
    passManifest = step(r, 'backup')?.outputs['manifest-path'] ?? '';
    expect((await readEvidenceFile(passManifest)).engine).toBe('pgbackrest');
    // No rollback used the preparation: the last step ended it, or found it finished and left it.
    expect(step(r, 'prepare-rollback')?.outputs.preparation).toBe('running');
    passPreparation = step(r, 'end-preparation')?.outputs.preparation ?? '';
    expect(['stopped', 'prepared']).toContain(passPreparation);
  }, 900_000);

  it('the manual Rollback workflow with strategy pitr returns the cluster to that point and the code to v1.0', async () => {
    const [{ timeline }] = (await prod.cluster.query<{ timeline: number }>(
      'SELECT timeline_id AS timeline FROM pg_control_checkpoint()',
    )) as [{ timeline: number }];
    const r = await prod.run(
      'rollback.yml',
      { manifest: passManifest, 'previous-ref': 'v1.0', 'confirm-database': 'shop', strategy: 'pitr' },
      'approve',
    );
    keep('pgbackrest manual rollback', r);
    expect(r.jobs.rollback?.outputs.verdict).toBe('restored');
    // A side the migration's run left prepared is cut over to; one it stopped is restored into again.
    expect(r.jobs['rollback/rollback']?.summary ?? '').toContain(
      passPreparation === 'prepared' ? 'prepared in the background before the verdict' : 'delta restore into',
    );
    expect(r.conclusion).toBe('success');
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
    const evidence = await readEvidenceFile(passManifest);
    expect(compareFingerprints(evidence.fingerprints, await prod.protectedState())).toEqual([]);
    expect(
      await prod.cluster.query("SELECT 1 FROM pg_class WHERE relname = 'product_variants'", 'shop'),
    ).toEqual([]);
    const [after] = await prod.cluster.query<{ timeline: number }>(
      'SELECT timeline_id AS timeline FROM pg_control_checkpoint()',
    );
    expect(after?.timeline).toBeGreaterThan(timeline);
    const id = path.basename(passManifest).replace(/\.manifest\.json$/, '');
    expect(existsSync(`${prod.pgbackrest?.dataDir ?? ''}.before-${id}`)).toBe(true);
  }, 900_000);

  it('no secret in any log, summary, output or recorded call', () => {
    const all = seen.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const secret of [SUPERUSER_PASSWORD, encodeURIComponent(SUPERUSER_PASSWORD), BYPASS_TOKEN]) {
      expect(all).not.toContain(secret);
    }
  });
});
