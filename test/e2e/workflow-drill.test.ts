import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

import { ROOT, runAction } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';
import { runWorkflow } from '../harness/workflow/runner';
import type { RunResult } from '../harness/workflow/types';

import { APP, BYPASS_TOKEN, PROTECTED, startProduction, SUITE, type Production } from './procedure';
import { deployShop, PYTHON, type Shop } from './shop';

interface DrillRecord {
  result: string;
  rtoSeconds: number;
  proved: boolean;
  phases: { restore: number; evidence: number; migrate: number; rollback: number };
  restore: { verdict: string; phases: { phases: { name: string; status: string }[] } };
  rollback: { phases: { name: string; status: string }[] };
}

/**
 * The staging drill as the reference shop runs it (.github/workflows/staging-rollback-drill.yml, a
 * thin caller of the reusable drill), twice in a row against a staging cluster and shop of its own,
 * from production's backup in S3.
 */
describe('Staging rollback drill, twice in a row', () => {
  let prod: Production;
  let staging: PostgresCluster;
  let shop: Shop;
  const seen: string[] = [];

  beforeAll(async () => {
    [prod, staging] = await Promise.all([startProduction(), startPostgres('staging')]);
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
    // Production's backup, as the production workflow leaves it in the bucket.
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

  function drill(): Promise<RunResult> {
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
      DRILL_RECORDS_URI: `s3://${prod.s3.bucket}/drills/`,
      S3_ENDPOINT: prod.s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUM_MODE: 'when-required',
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
      writeFileSync(path.join(logs, `${title}-${job.id.replace(/\//g, '--')}.log`), job.log);
    }
  }

  async function records(): Promise<DrillRecord[]> {
    const list = await prod.s3.client.send(
      new ListObjectsV2Command({ Bucket: prod.s3.bucket, Prefix: 'drills/' }),
    );
    const keys = (list.Contents ?? []).map((o) => o.Key ?? '').sort();
    return Promise.all(
      keys.map(async (Key) => {
        const o = await prod.s3.client.send(new GetObjectCommand({ Bucket: prod.s3.bucket, Key }));
        return JSON.parse(await (o.Body?.transformToString() ?? Promise.resolve('{}'))) as DrillRecord;
      }),
    );
  }

  const kept = async () =>
    (
      await staging.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_%' ORDER BY 1",
      )
    ).map((r) => r.datname);

  const release = async () => {
    const r = await fetch(`${shop.url}/api/health/`, { headers: { 'X-Maintenance-Bypass': BYPASS_TOKEN } });
    return String(((await r.json()) as { release?: string }).release);
  };

  it('each drill restores afresh, rolls back database and code, proves, records; the trend shows both', async () => {
    for (const round of [1, 2]) {
      // Staging drifts between drills (a tester's order): the next drill restores production anyway.
      await staging.query(
        "UPDATE orders SET status = 'drifted' WHERE id = (SELECT min(id) FROM orders)",
        'shop',
      );
      const r = await drill();
      keep(`drill-${round}`, r);
      const job = r.jobs['drill/drill'];
      const step = (id: string) => job?.steps.find((s) => s.id === id);
      expect(r.conclusion).toBe('success');
      expect(step('restore')?.outputs.verdict).toBe('restored');
      const restorePhases = JSON.parse(step('restore')?.outputs['phases-json'] ?? '{}') as {
        phases: { name: string; status: string }[];
      };
      expect(restorePhases.phases.find((p) => p.name === 'restore')?.status).toBe('ok');
      expect(step('migrate')?.outputs.status).toBe('succeeded');
      expect(step('rollback')?.outputs.verdict).toBe('restored');
      const phases = JSON.parse(step('rollback')?.outputs['phases-json'] ?? '{}') as {
        phases: { name: string; status: string }[];
      };
      for (const name of ['swap', 'revert', 'start', 'health'])
        expect(`${name}: ${phases.phases.find((p) => p.name === name)?.status}`).toBe(`${name}: ok`);
      expect(step('prove')?.outcome).toBe('success');
      expect(r.jobs.drill?.outputs.result).toBe('passed');
      expect(await release()).toBe('1.0');
      const drifted = await staging.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM orders WHERE status = 'drifted'",
        'shop',
      );
      expect(drifted[0]?.n).toBe('0');
      expect(job?.summary).toContain('## Last drills: recovery time against the 900 s target');
      const rows = (job?.summary ?? '').split('\n').filter((l) => /^\| \d{4}-/.test(l));
      expect(rows).toHaveLength(round);
      expect(job?.summary).toContain('xychart-beta');
      // Retention 1: this drill's kept database only (the evidence's snapshot became the live one).
      expect(await kept()).toHaveLength(1);
    }
    const all = await records();
    expect(all).toHaveLength(2);
    for (const rec of all) {
      expect(rec.result).toBe('passed');
      expect(rec.proved).toBe(true);
      expect(rec.restore.verdict).toBe('restored');
      expect(rec.rtoSeconds).toBeGreaterThan(0);
      expect(Object.keys(rec.phases)).toEqual(['restore', 'evidence', 'migrate', 'rollback']);
    }
  }, 900_000);

  it('no secret in any log, summary or output', () => {
    const all = seen.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const secret of [SUPERUSER_PASSWORD, encodeURIComponent(SUPERUSER_PASSWORD), BYPASS_TOKEN])
      expect(all).not.toContain(secret);
  });
});
