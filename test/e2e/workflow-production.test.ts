import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';

import { readManifestFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { compareFingerprints, countRows } from '../../src/postgres/fingerprint';
import { LOCK_CLASS, lockKey } from '../../src/postgres/lock';
import { ROOT } from '../harness/action';
import { SUPERUSER_PASSWORD } from '../harness/postgres';
import type { RunResult } from '../harness/workflow/types';

import { startCustomer, type CustomerReport } from './customer';
import { BYPASS_TOKEN, SLACK_WEBHOOK, startProduction, type Production } from './procedure';

const WORKFLOW = 'production-migration.yml';

/**
 * The production procedure run as written (.github/workflows/production-migration.yml) by the
 * workflow runner, against the reference shop on a real PostgreSQL and s3rver, while a customer
 * keeps using the shop until maintenance blocks them.
 */
describe('Production migration workflow, as written', () => {
  let prod: Production;
  const seen: string[] = [];

  beforeAll(async () => {
    prod = await startProduction();
  }, 300_000);
  afterAll(async () => {
    await prod?.stop();
  });

  /** Keeps each job's log in .tmp/workflow-logs (to read after a failure) and prints the summaries in the demo. */
  function show(title: string, r: RunResult): void {
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
    if (!process.env.MG_DEMO) return;
    process.stdout.write(`\n======== ${title}: run ${r.conclusion} ========\n`);
    for (const job of Object.values(r.jobs)) {
      process.stdout.write(
        `\n---- job ${job.id}: ${job.result}${job.reason ? ` (${job.reason})` : ''} ----\n`,
      );
      process.stdout.write(`${job.summary.trim()}\n`);
      process.stdout.write('\n| step | outcome | seconds |\n|---|---|---|\n');
      for (const s of job.steps)
        process.stdout.write(`| ${s.name} | ${s.outcome} | ${s.seconds.toFixed(2)} |\n`);
    }
  }

  async function backups(): Promise<string[]> {
    const r = await prod.s3.client.send(
      new ListObjectsV2Command({ Bucket: prod.s3.bucket, Prefix: 'production/' }),
    );
    return (r.Contents ?? []).map((o) => o.Key ?? '');
  }

  async function snapshots(): Promise<string[]> {
    const rows = await prod.cluster.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_snap\\_%' ORDER BY 1",
    );
    return rows.map((r) => r.datname);
  }

  /** Every order the customer saw accepted is in the database. */
  async function ordersKept(report: CustomerReport): Promise<void> {
    expect(report.errors).toEqual([]);
    const rows = await prod.cluster.query<{ id: number }>(
      'SELECT id FROM orders WHERE id = ANY($1::int[])',
      'shop',
      [report.acceptedOrderIds],
    );
    expect(rows.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(
      [...report.acceptedOrderIds].sort((a, b) => a - b),
    );
  }

  // The caller's job `migration` runs the reusable workflow's jobs `plan` and `migrate`.
  const migrateJob = (r: RunResult) => r.jobs['migration/migrate'];
  const step = (r: RunResult, id: string) => migrateJob(r)?.steps.find((s) => s.id === id);

  it('rejected at the go/no-go: the job never runs, nothing is touched', async () => {
    const before = await prod.protectedState();
    const r = await prod.run(
      WORKFLOW,
      { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': false },
      'reject',
    );
    show('rejected', r);
    expect(r.conclusion).toBe('failure');
    expect(r.jobs['migration/plan']?.result).toBe('success');
    expect(migrateJob(r)?.reason).toBe('The deployment to production was rejected by alice');
    expect(migrateJob(r)?.steps).toEqual([]);
    expect(await backups()).toEqual([]);
    expect(await snapshots()).toEqual([]);
    expect(compareFingerprints(before, await prod.protectedState())).toEqual([]);
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
  }, 300_000);

  it('dry run: the plan and the approvals are shown, nothing changes', async () => {
    const customer = startCustomer(prod.shop.url);
    const r = await prod.run(
      WORKFLOW,
      { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': true },
      'approve',
    );
    show('dry run', r);
    const report = await customer.stop();
    expect(r.conclusion).toBe('success');
    expect(step(r, 'recovery-point')?.outcome).toBe('skipped');
    expect(step(r, 'migrate')?.outcome).toBe('skipped');
    expect(migrateJob(r)?.summary).toContain('Dry run: nothing was changed.');
    expect(await backups()).toEqual([]);
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
    expect(report.maintenanceResponses).toBe(0);
    await ordersKept(report);
  }, 300_000);

  it('a failure before any change (the lock held by another run): no rollback, the shop reopens, the reason is clear', async () => {
    // Advisory locks belong to a database: the suite takes its lock in the maintenance database.
    const holder = new pg.Client({
      connectionString: prod.cluster.url('postgres'),
      application_name: 'another-migration',
    });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1::int, $2::int)', [LOCK_CLASS | 0, lockKey('shop')]);
    const customer = startCustomer(prod.shop.url, { stopAtMaintenance: true });
    let r: RunResult;
    try {
      r = await prod.run(
        WORKFLOW,
        { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': false },
        'approve',
      );
    } finally {
      await holder.end();
    }
    show('lock held', r);
    const report = await customer.stop();
    expect(r.conclusion).toBe('failure');
    expect(step(r, 'recovery-point')?.outcome).toBe('failure');
    expect(step(r, 'deploy')?.outcome).toBe('skipped');
    expect(step(r, 'rollback')?.outcome).toBe('skipped');
    expect(step(r, 'open')?.outcome).toBe('success');
    expect(migrateJob(r)?.log).toMatch(/another-migration|lock/i);
    expect(migrateJob(r)?.summary).toContain(
      'Nothing was changed: the run stopped before the release was deployed',
    );
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
    await ordersKept(report);
  }, 300_000);

  it('the import failing halfway: rollback to v1.0 code and a database equal to the manifest, no order lost', async () => {
    const customer = startCustomer(prod.shop.url, { stopAtMaintenance: true });
    const r = await prod.run(
      WORKFLOW,
      { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': false },
      'approve',
      { env: { FREESPORT_IMPORT_FAIL_AFTER: '500', FREESPORT_IMPORT_COMMIT_EVERY_BATCH: '1' } },
    );
    show('import fails', r);
    const report = await customer.stop();
    expect(r.conclusion).toBe('failure');
    expect(step(r, 'migrate')?.outputs['failed-step']).toBe('import');
    expect(step(r, 'backup')?.outcome).toBe('success');
    expect(step(r, 'rollback')?.outputs.verdict).toBe('restored');
    expect(step(r, 'open')?.outcome).toBe('success');
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
    const manifest = await readManifestFile(step(r, 'backup')?.outputs['manifest-path'] ?? '');
    const counts = await withClient(connectionFromUrl(prod.cluster.url('shop')), (c) =>
      countRows(c, Object.keys(manifest.rowCounts)),
    );
    expect(counts).toEqual(manifest.rowCounts);
    expect(compareFingerprints(manifest.fingerprints, await prod.protectedState())).toEqual([]);
    expect(report.acceptedOrderIds.length).toBeGreaterThan(0);
    await ordersKept(report);
  }, 600_000);

  let passManifestUri = '';

  it('approved: v2.0 is live, verdict pass, maintenance off, Slack told of start and end', async () => {
    const customer = startCustomer(prod.shop.url, { stopAtMaintenance: true });
    const r = await prod.run(
      WORKFLOW,
      { 'release-ref': 'v2.0', 'previous-ref': 'v1.0', 'dry-run': false },
      'approve',
    );
    show('approved', r);
    const report = await customer.stop();
    expect(r.conclusion).toBe('success');
    expect(step(r, 'validate')?.outputs.verdict).toBe('pass');
    // The preflight's multipart probe is not reported as a failed upload.
    expect(migrateJob(r)?.log).not.toContain('Could not abort the multipart upload');
    expect(migrateJob(r)?.summary).not.toContain('::debug::');
    expect(step(r, 'rollback')?.outcome).toBe('skipped');
    expect(await prod.release()).toBe('2.0');
    expect(await prod.maintenance()).toBe(false);
    // Logins, carts and orders before maintenance are in the recovery point: no false rollback.
    expect(report.logins).toBeGreaterThan(0);
    await ordersKept(report);
    const slack = r.thirdParty.filter((c) => c.uses.startsWith('slackapi/'));
    expect(slack.map((c) => c.step)).toEqual([expect.any(String), expect.any(String)]);
    expect(slack[0]?.with.payload).toContain('Production migration to v2.0 started by dana');
    expect(slack[1]?.with.payload).toMatch(
      /v2\.0: success; migrate succeeded, verdict pass, rollback not needed/,
    );
    expect(slack[0]?.with.webhook).toBe(SLACK_WEBHOOK);
    const manifestPath = step(r, 'backup')?.outputs['manifest-path'] ?? '';
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      database: string;
      snapshotDatabase?: string;
      server: { systemIdentifier?: string };
    };
    expect(manifest.database).toBe('shop');
    expect(manifest.snapshotDatabase).toMatch(/^shop_snap_/);
    // The cluster's identity, which a rollback compares before restoring anything.
    const [control] = await prod.cluster.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    expect(manifest.server.systemIdentifier).toBe(control?.id);
    passManifestUri = step(r, 'backup')?.outputs['manifest-uri'] ?? '';
    expect(passManifestUri).toMatch(/^s3:\/\/.+\.manifest\.json$/);
  }, 600_000);

  it('the manual Rollback workflow: a wrong confirmation changes nothing; the right one returns to v1.0', async () => {
    const inputs = { manifest: passManifestUri, 'previous-ref': 'v1.0', strategy: 'snapshot' };
    const wrong = await prod.run('rollback.yml', { ...inputs, 'confirm-database': 'shop2' }, 'approve');
    show('rollback, wrong confirmation', wrong);
    expect(wrong.conclusion).toBe('failure');
    expect(await prod.release()).toBe('2.0');
    const r = await prod.run('rollback.yml', { ...inputs, 'confirm-database': 'shop' }, 'approve');
    show('rollback', r);
    expect(r.conclusion).toBe('success');
    expect(r.jobs['rollback/rollback']?.steps.find((s) => s.id === 'rollback')?.outputs.verdict).toBe(
      'restored',
    );
    expect(r.jobs.rollback?.outputs.verdict).toBe('restored');
    expect(await prod.release()).toBe('1.0');
    expect(await prod.maintenance()).toBe(false);
  }, 600_000);

  it('no secret in any log, summary, output or recorded call', () => {
    const all = seen.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const secret of [SUPERUSER_PASSWORD, encodeURIComponent(SUPERUSER_PASSWORD), BYPASS_TOKEN]) {
      expect(all).not.toContain(secret);
    }
  });
});
