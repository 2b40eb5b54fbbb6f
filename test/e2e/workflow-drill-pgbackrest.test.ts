import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

import { readEvidenceFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { compareFingerprints, fingerprintTables } from '../../src/postgres/fingerprint';
import { ROOT, runAction } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort, SUPERUSER_PASSWORD } from '../harness/postgres';
import { runWorkflow } from '../harness/workflow/runner';
import type { RunResult } from '../harness/workflow/types';

import { APP, BYPASS_TOKEN, PROTECTED, startProduction, SUITE, type Production } from './procedure';
import { deployShop, PYTHON, type Shop } from './shop';

interface DrillRecord {
  result: string;
  rtoSeconds: number;
  proved: boolean;
  engine: string;
  strategy: string;
  restoredFrom: string;
  downtimeSeconds: number | null;
  evidenceReadSeconds: number | null;
  phases: { restore: number; evidence: number; migrate: number; rollback: number };
  rollback: { phases: { name: string; status: string }[] };
}

/**
 * The staging drill as written (.github/workflows/staging-rollback-drill.yml) with BACKUP_ENGINE
 * pgbackrest on the staging environment: staging's cluster archives to its own pgBackRest
 * repository; the drill refreshes staging from production's pg_dump backup (swap), takes a restore
 * point of staging as the evidence (read in the background while the migration runs), and rolls
 * back with strategy pitr. Twice in a row, with retention 1.
 */
describe('Staging rollback drill with the pgBackRest engine', () => {
  let prod: Production;
  let staging: PgBackRestCluster;
  let shop: Shop;
  let sidePort: number;
  let productionManifest = '';
  const seen: string[] = [];

  beforeAll(async () => {
    [prod, staging] = await Promise.all([startProduction(), startPgBackRestCluster('staging')]);
    sidePort = await freePort();
    await staging.query('CREATE DATABASE shop');
    shop = await deployShop(staging.url('shop'), { products: 300, variants: 3 });
    shop.env.FREESPORT_MAINTENANCE_BYPASS_TOKEN = BYPASS_TOKEN;
    shop.env.FREESPORT_PORT = String(shop.port);
    shop.checkout('v1.0');
    shop.manage(['migrate', '--no-input']);
    execFileSync('bash', ['-c', shop.commands.start], {
      env: { ...process.env, ...shop.env },
      stdio: 'pipe',
    });
    // Production's pg_dump backup (v1.0's data), as a nightly backup leaves it in the bucket.
    const backup = await runAction(
      'backup',
      {
        'database-url': prod.cluster.url('shop'),
        'protected-tables': PROTECTED.join(', '),
        'output-dir': mkdtempSync(path.join(os.tmpdir(), 'mg-drill-prod-')),
        's3-uri': `s3://${prod.s3.bucket}/production/`,
        's3-endpoint': prod.s3.endpoint,
        's3-force-path-style': 'true',
        'checksum-mode': 'when-required',
        'code-ref': 'v1.0',
      },
      { env: prod.s3.env },
    );
    expect(backup.exitCode).toBe(0);
    productionManifest = backup.outputs['manifest-path'] ?? '';
  }, 600_000);
  afterAll(async () => {
    try {
      execFileSync('bash', ['-c', shop.commands.stop], {
        env: { ...process.env, ...shop.env },
        stdio: 'pipe',
      });
    } catch {
      // best effort
    }
    await Promise.all([prod?.stop(), staging?.stop()]);
  });

  function drill(extra: Record<string, string> = {}): Promise<RunResult> {
    const service = (command: string) => `env -u RUNNER_TRACKING_ID ${command}`;
    const vars = {
      APP_DIR: shop.dir,
      DJANGO_MANAGE: 'manage.py',
      PYTHON,
      ONEC_HEALTH_URL: prod.onec.url,
      ONEC_DIR: shop.onecDir,
      APP_URL: shop.url,
      DEPLOY_COMMAND: service(`bash -c 'cd ${shop.dir} && bash scripts/deploy.sh "$RELEASE_REF"'`),
      APP_STOP_COMMAND: shop.commands.stop,
      APP_START_COMMAND: service(shop.commands.start),
      HEALTH_URLS: `${shop.url}/api/health/`,
      BACKUP_DIR: mkdtempSync(path.join(os.tmpdir(), 'mg-drill-staging-')),
      PRODUCTION_BACKUP_S3_URI: `s3://${prod.s3.bucket}/production/`,
      DRILL_RECORDS_URI: `s3://${prod.s3.bucket}/drills-pgbackrest/`,
      S3_ENDPOINT: prod.s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUM_MODE: 'when-required',
      // Staging's own stanza and archiving, read by the same variables as production's.
      BACKUP_ENGINE: 'pgbackrest',
      PGBACKREST_STANZA: staging.stanza,
      PGBACKREST_CONFIG: staging.config,
      PGBACKREST_PROCESS_MAX: '2',
      PGDATA: staging.dataDir,
      PITR_SIDE_PORT: String(sidePort),
      ...extra,
    };
    return runWorkflow({
      workflow: path.join(ROOT, '.github', 'workflows', 'staging-rollback-drill.yml'),
      inputs: { 'release-ref': 'v2.0', 'previous-ref': 'v1.0' },
      repository: SUITE,
      actor: 'dana',
      repositories: { [SUITE]: ROOT, [APP]: shop.dir },
      vars: { APP_REPOSITORY: APP, DRILL_RETENTION: '1' },
      secrets: {
        AWS_ACCESS_KEY_ID: prod.s3.env.AWS_ACCESS_KEY_ID ?? '',
        AWS_SECRET_ACCESS_KEY: prod.s3.env.AWS_SECRET_ACCESS_KEY ?? '',
        MAINTENANCE_BYPASS_TOKEN: BYPASS_TOKEN,
      },
      environments: { staging: { vars, secrets: { DATABASE_URL: staging.url('shop') } } },
      env: { ...shop.env, PYTHON },
    });
  }

  function keep(title: string, r: RunResult): void {
    const logs = path.join(ROOT, '.tmp', 'workflow-logs');
    mkdirSync(logs, { recursive: true });
    for (const job of Object.values(r.jobs)) {
      seen.push(job.rawLog, job.summary, JSON.stringify(job.outputs));
      const name = `${title}-${job.id.replace(/\//g, '--')}`;
      writeFileSync(path.join(logs, `${name}.log`), job.log);
      writeFileSync(path.join(logs, `${name}.summary.md`), job.summary);
    }
  }

  async function records(prefix: string): Promise<DrillRecord[]> {
    const list = await prod.s3.client.send(
      new ListObjectsV2Command({ Bucket: prod.s3.bucket, Prefix: prefix }),
    );
    const keys = (list.Contents ?? []).map((o) => o.Key ?? '').sort();
    return Promise.all(
      keys.map(async (Key) => {
        const o = await prod.s3.client.send(new GetObjectCommand({ Bucket: prod.s3.bucket, Key }));
        return JSON.parse(await (o.Body?.transformToString() ?? Promise.resolve('{}'))) as DrillRecord;
      }),
    );
  }

  const keptDatabases = async () =>
    (
      await staging.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_%' ORDER BY 1",
      )
    ).map((r) => r.datname);
  const keptDirectories = () =>
    readdirSync(staging.root)
      .filter((d) => d.startsWith(`${path.basename(staging.dataDir)}.before-`))
      .map((d) => path.join(staging.root, d));
  const timeline = async () =>
    Number(
      (await staging.query<{ t: number }>('SELECT timeline_id AS t FROM pg_control_checkpoint()'))[0]?.t,
    );
  const release = async () => {
    const r = await fetch(`${shop.url}/api/health/`, { headers: { 'X-Maintenance-Bypass': BYPASS_TOKEN } });
    return String(((await r.json()) as { release?: string }).release);
  };

  it('restore point as evidence, pitr rollback: staging is back to v1.0 with production’s data; the record says pitr', async () => {
    const firstKept: string[] = [];
    for (const round of [1, 2]) {
      // A tester's change on staging: the refresh restores production's data anyway.
      await staging.query(
        "UPDATE orders SET status = 'drifted' WHERE id = (SELECT min(id) FROM orders)",
        'shop',
      );
      const before = await timeline();
      const r = await drill();
      keep(`drill-pgbackrest-${round}`, r);
      const job = r.jobs['drill/drill'];
      const step = (id: string) => job?.steps.find((s) => s.id === id);
      expect(r.conclusion).toBe('success');
      expect(step('restore')?.outputs.verdict).toBe('restored');

      // The evidence: a restore point, returned at once; its evidence read while the migration ran.
      expect(step('backup')?.outputs.status).toBe('running');
      expect(step('backup')?.outputs['manifest-path']).toBe('');
      expect(step('migrate')?.outputs.status).toBe('succeeded');
      expect(step('evidence')?.outputs.status).toBe('verified');
      const manifest = step('evidence')?.outputs['manifest-path'] ?? '';
      const evidence = await readEvidenceFile(manifest);
      expect(evidence).toMatchObject({ format: 2, engine: 'pgbackrest', database: 'shop' });

      // The rollback: strategy pitr, the whole cluster back to the point, the code back to v1.0.
      const rollback = step('rollback');
      expect(rollback?.outputs.verdict).toBe('restored');
      expect(job?.summary).toContain('Strategy: pitr');
      expect(rollback?.outputs['restored-from']).toMatch(/^restore point /);
      const phases = JSON.parse(rollback?.outputs['phases-json'] ?? '{}') as {
        phases: { name: string; status: string }[];
      };
      for (const name of ['verify', 'swap', 'revert', 'start', 'health'])
        expect(`${name}: ${phases.phases.find((p) => p.name === name)?.status}`).toBe(`${name}: ok`);
      // Prepared while the migration ran, as in production: the rollback only cut over.
      expect(step('prepare-rollback')?.outputs.preparation).toBe('running');
      for (const name of ['restore', 'checks'])
        expect(`${name}: ${phases.phases.find((p) => p.name === name)?.status}`).toBe(`${name}: skipped`);
      expect(job?.summary).toContain('prepared in the background before the verdict');
      expect(step('end-preparation')?.outcome).toBe('skipped');
      expect(await timeline()).toBeGreaterThan(before);
      const aside = rollback?.outputs['failed-database'] ?? '';
      expect(existsSync(path.join(aside, 'PG_VERSION'))).toBe(true);
      if (round === 1) firstKept.push(aside);

      // Proven against the format-2 manifest.
      expect(step('prove')?.outcome).toBe('success');
      expect(r.jobs.drill?.outputs.result).toBe('passed');
      expect(r.jobs.drill?.outputs['rto-seconds']).toBe(rollback?.outputs['rto-seconds']);

      // Staging's shop is v1.0 with production's data: the drift, the migration and v2.0's schema are gone.
      expect(await release()).toBe('1.0');
      const state = await withClient(
        connectionFromUrl(staging.url('shop')),
        (c) => fingerprintTables(c, PROTECTED),
        { stableOutput: true },
      );
      expect(compareFingerprints(evidence.fingerprints, state)).toEqual([]);
      expect(compareFingerprints((await readEvidenceFile(productionManifest)).fingerprints, state)).toEqual(
        [],
      );
      expect(
        await staging.query("SELECT 1 FROM pg_class WHERE relname = 'product_variants'", 'shop'),
      ).toEqual([]);
      expect(await staging.query("SELECT 1 FROM orders WHERE status = 'drifted'", 'shop')).toEqual([]);

      // Retention 1: the refresh's kept database, and this drill's kept data directory only.
      expect(await keptDatabases()).toHaveLength(1);
      expect(keptDirectories()).toEqual([aside]);
      expect(step('retention')?.outputs.removed).toBe(round === 1 ? '0' : '1');
      expect(job?.summary).toContain('## Kept data directories (retention 1)');
      const rows = (job?.summary ?? '').split('\n').filter((l) => /^\| \d{4}-/.test(l));
      expect(rows).toHaveLength(round);
    }
    expect(existsSync(firstKept[0] ?? '')).toBe(false);

    const all = await records('drills-pgbackrest/');
    expect(all).toHaveLength(2);
    for (const rec of all) {
      expect(rec).toMatchObject({ result: 'passed', proved: true, engine: 'pgbackrest', strategy: 'pitr' });
      expect(rec.restoredFrom).toMatch(/^restore point /);
      expect(rec.rtoSeconds).toBeGreaterThan(0);
      expect(rec.phases.rollback).toBe(rec.rtoSeconds);
      expect(rec.downtimeSeconds).toBeGreaterThan(0);
      expect(rec.evidenceReadSeconds).toBeGreaterThan(0);
      expect(Object.keys(rec.phases)).toEqual(['restore', 'evidence', 'migrate', 'rollback']);
      for (const name of ['swap', 'health'])
        expect(rec.rollback.phases.find((p) => p.name === name)?.status).toBe('ok');
      expect(rec.rollback.phases.find((p) => p.name === 'restore')?.status).toBe('skipped');
    }
  }, 1_200_000);

  it('PITR_SCOPE database on staging is refused before anything changes', async () => {
    const before = await keptDatabases();
    const r = await drill({ PITR_SCOPE: 'database', DRILL_RECORDS_URI: '' });
    keep('drill-pgbackrest-scope', r);
    const job = r.jobs['drill/drill'];
    expect(r.conclusion).toBe('failure');
    expect(job?.log).toContain("PITR_SCOPE is 'database' on staging");
    for (const id of ['restore', 'backup', 'migrate', 'rollback'])
      expect(`${id}: ${job?.steps.find((s) => s.id === id)?.outcome}`).toBe(`${id}: skipped`);
    expect(await keptDatabases()).toEqual(before);
    expect(await release()).toBe('1.0');
  }, 300_000);

  it('no secret in any log, summary or output', () => {
    const all = seen.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const secret of [SUPERUSER_PASSWORD, encodeURIComponent(SUPERUSER_PASSWORD), BYPASS_TOKEN])
      expect(all).not.toContain(secret);
  });
});
