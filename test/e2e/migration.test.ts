import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { readManifestFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { compareFingerprints, countRows, fingerprintTables } from '../../src/postgres/fingerprint';
import { ROOT, runAction, type ActionResult } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { deployShop, getJson, show, type Shop } from './shop';

const PROTECTED = ['auth_user', 'orders', 'order_items', 'cart_items'];
const CHECKS = path.join(ROOT, 'examples', 'freesport', 'checks.yml');

/**
 * The scenario the workflows run, on embedded parts: two clusters ("production" and "staging"),
 * s3rver, and the reference shop deployed from its release repository.
 */
describe('production migration of the reference shop, failure, rollback and staging drill', () => {
  let production: PostgresCluster;
  let staging: PostgresCluster;
  let s3: S3Server;
  let shop: Shop;
  let stagingShop: Shop;
  const work = mkdtempSync(path.join(os.tmpdir(), 'mg-e2e-'));
  const secretsSeen: string[] = [];

  const protectedState = async (url: string) =>
    withClient(connectionFromUrl(url), (c) => fingerprintTables(c, PROTECTED), { stableOutput: true });

  async function act(
    title: string,
    name: string,
    inputs: Record<string, string>,
    target: Shop,
  ): Promise<ActionResult> {
    const r = await runAction(name, inputs, { env: { ...s3.env, ...target.env }, cwd: target.dir });
    show(title, r);
    secretsSeen.push(r.logs, r.summary, JSON.stringify(r.outputs));
    return r;
  }

  const s3Inputs = () => ({
    's3-endpoint': s3.endpoint,
    's3-force-path-style': 'true',
    'checksum-mode': 'when-required',
  });

  function backup(target: Shop, url: string, prefix: string, codeRef: string): Promise<ActionResult> {
    return act(
      'backup',
      'backup',
      {
        'database-url': url,
        'protected-tables': PROTECTED.join(', '),
        'output-dir': path.join(work, prefix),
        's3-uri': `s3://${s3.bucket}/${prefix}/`,
        ...s3Inputs(),
        snapshot: 'true',
        'code-ref': codeRef,
      },
      target,
    );
  }

  function migrate(target: Shop, url: string, extraEnv = ''): Promise<ActionResult> {
    return act(
      'migrate',
      'migrate',
      {
        'database-url': url,
        'django-manage': path.join(target.dir, 'manage.py'),
        python: '/usr/bin/python3',
        'maintenance-on-command': target.commands.maintenanceOn,
        'maintenance-off-command': target.commands.maintenanceOff,
        'stop-command': target.commands.stop,
        'start-command': target.commands.start,
        steps: [
          'deploy: git checkout -q --detach v2.0',
          'migrate: /usr/bin/python3 manage.py migrate --no-input',
          'flush: /usr/bin/python3 manage.py flush_products --confirm --skip-interactive',
          `import: ${extraEnv}/usr/bin/python3 manage.py import_products_from_1c --full --dir "$ONEC_EXCHANGE_DIR"`,
        ].join('\n'),
      },
      target,
    );
  }

  function validate(target: Shop, url: string, manifest: string, phase = 'post'): Promise<ActionResult> {
    return act(
      `validate (${phase})`,
      'validate',
      {
        'database-url': url,
        'checks-file': CHECKS,
        phase,
        manifest,
        'fail-on': 'never',
      },
      {
        ...target,
        // The shop of this scenario runs without a bypass token: the header is sent and ignored.
        env: {
          ...target.env,
          ONEC_DIR: target.onecDir,
          APP_URL: target.url,
          MAINTENANCE_BYPASS_TOKEN: 'unused',
        },
      },
    );
  }

  function rollback(
    target: Shop,
    url: string,
    manifest: string,
    strategy: string,
    extra: Record<string, string> = {},
  ): Promise<ActionResult> {
    return act(
      `rollback (${strategy})`,
      'rollback',
      {
        'database-url': url,
        manifest,
        strategy,
        ...s3Inputs(),
        'previous-ref': 'v1.0',
        'app-dir': target.dir,
        'stop-command': target.commands.stop,
        // Bringing the application back includes leaving the maintenance a failed migration left on.
        'start-command': `${target.commands.maintenanceOff} && ${target.commands.start}`,
        'health-urls': `${target.url}/api/health/`,
        'health-timeout': '60s',
        ...extra,
      },
      target,
    );
  }

  beforeAll(async () => {
    [production, staging, s3] = await Promise.all([
      startPostgres('production'),
      startPostgres('staging'),
      startS3(),
    ]);
    await production.query('CREATE DATABASE shop');
    await staging.query('CREATE DATABASE shop');
    shop = await deployShop(production.url('shop'), { products: 400, variants: 3 });
    stagingShop = await deployShop(staging.url('shop'), { products: 400, variants: 3 });
    // Production runs release 1.0 with generated customers, orders and carts.
    shop.checkout('v1.0');
    shop.manage(['migrate', '--no-input']);
    execFileSync(
      '/usr/bin/python3',
      [path.join(shop.dir, 'tools', 'generate_db.py'), '--scale', '0.01', '--seed', '7'],
      {
        env: { ...process.env, ...shop.env },
        stdio: 'pipe',
      },
    );
    execFileSync('bash', ['-c', shop.commands.start], {
      env: { ...process.env, ...shop.env },
      stdio: 'pipe',
    });
  }, 300_000);

  afterAll(async () => {
    for (const s of [shop, stagingShop]) {
      if (s) execFileSync('bash', ['-c', s.commands.stop], { stdio: 'pipe' });
    }
    await Promise.all([production?.stop(), staging?.stop(), s3?.stop()]);
  });

  let firstManifest = '';

  it('happy path: backup (offsite + snapshot) → migrate to v2.0 → validate → pass', async () => {
    const before = await protectedState(production.url('shop'));
    const b = await backup(shop, production.url('shop'), 'production', 'v1.0');
    expect(b.exitCode).toBe(0);
    firstManifest = b.outputs['manifest-path'] ?? '';
    expect(b.outputs['snapshot-database']).toMatch(/^shop_snap_/);
    const manifest = await readManifestFile(firstManifest);
    expect(compareFingerprints(manifest.fingerprints, before)).toEqual([]);

    const m = await migrate(shop, production.url('shop'));
    expect(m.outputs.status).toBe('succeeded');
    expect(m.exitCode).toBe(0);

    const v = await validate(shop, production.url('shop'), firstManifest);
    expect(v.outputs.verdict).toBe('pass');
    const health = await getJson(`${shop.url}/api/health/`);
    expect(health.body).toMatchObject({ release: '2.0', maintenance: false });
    const list = (await getJson(`${shop.url}/api/v1/products/`)).body as {
      count: number;
      results: { slug: string }[];
    };
    expect(list.count).toBe(400);
    const detail = (await getJson(`${shop.url}/api/v1/products/${list.results[0]?.slug ?? ''}/`)).body as {
      variants: unknown[];
    };
    expect(detail.variants).toHaveLength(3);
    // Nothing of users, orders, order items or cart items changed.
    expect(compareFingerprints(manifest.fingerprints, await protectedState(production.url('shop')))).toEqual(
      [],
    );
  }, 600_000);

  it('return to v1.0 from the snapshot: seconds, and the v1.0 API answers again', async () => {
    const r = await rollback(shop, production.url('shop'), firstManifest, 'snapshot');
    expect(r.exitCode).toBe(0);
    expect(r.outputs.verdict).toBe('restored');
    expect((await getJson(`${shop.url}/api/health/`)).body).toMatchObject({ release: '1.0' });
  }, 600_000);

  it('failure path: an import failing halfway → rollback verdict → rollback → database equals the manifest', async () => {
    const b = await backup(shop, production.url('shop'), 'production', 'v1.0');
    expect(b.exitCode).toBe(0);
    const manifestPath = b.outputs['manifest-path'] ?? '';
    const manifest = await readManifestFile(manifestPath);

    const m = await migrate(
      shop,
      production.url('shop'),
      'FREESPORT_IMPORT_FAIL_AFTER=500 FREESPORT_IMPORT_COMMIT_EVERY_BATCH=1 ',
    );
    expect(m.exitCode).toBe(1);
    expect(m.outputs.status).toBe('failed');
    expect(m.outputs['failed-step']).toBe('import');
    expect(m.outputs['rollback-recommended']).toBe('true');
    expect(m.outputs.maintenance).toBe('on');

    const v = await validate(shop, production.url('shop'), manifestPath);
    expect(v.outputs.verdict).toBe('rollback');

    const r = await rollback(shop, production.url('shop'), manifestPath, 'swap');
    expect(r.exitCode).toBe(0);
    expect(r.outputs.verdict).toBe('restored');
    expect(Number(r.outputs['rto-seconds'])).toBeGreaterThan(0);
    expect(r.outputs['failed-database']).toMatch(/^shop_failed_/);

    // The database equals the manifest: every table's rows, and the protected tables' content.
    const settings = connectionFromUrl(production.url('shop'));
    const counts = await withClient(settings, (c) => countRows(c, Object.keys(manifest.rowCounts)));
    expect(counts).toEqual(manifest.rowCounts);
    expect(compareFingerprints(manifest.fingerprints, await protectedState(production.url('shop')))).toEqual(
      [],
    );
    // The v1.0 API answers again, with the price on the product.
    const list = (await getJson(`${shop.url}/api/v1/products/`)).body as {
      results: Record<string, unknown>[];
    };
    expect(list.results[0]).toHaveProperty('retail_price');
    expect((await getJson(`${shop.url}/api/health/`)).body).toMatchObject({
      release: '1.0',
      maintenance: false,
    });
  }, 600_000);

  it('staging drill: restore production backup → migrate → validate → roll back → equals the evidence', async () => {
    const restored = await rollback(
      stagingShop,
      staging.url('shop'),
      firstManifest.replace(/.*\//, `s3://${s3.bucket}/production/`),
      'swap',
      // Production's backup on the staging cluster, as the drill workflow does.
      { 'allow-other-database': 'true' },
    );
    expect(restored.exitCode).toBe(0);
    const b = await backup(stagingShop, staging.url('shop'), 'staging', 'v1.0');
    expect(b.exitCode).toBe(0);
    const manifestPath = b.outputs['manifest-path'] ?? '';
    const m = await migrate(stagingShop, staging.url('shop'));
    expect(m.outputs.status).toBe('succeeded');
    const r = await rollback(stagingShop, staging.url('shop'), manifestPath, 'snapshot');
    expect(r.outputs.verdict).toBe('restored');
    const manifest = await readManifestFile(manifestPath);
    expect(compareFingerprints(manifest.fingerprints, await protectedState(staging.url('shop')))).toEqual([]);
    if (process.env.MG_DEMO)
      process.stdout.write(`\nStaging drill RTO: ${r.outputs['rto-seconds'] ?? '?'} s\n`);
  }, 600_000);

  it('no secret appeared in any log, summary or output of the whole scenario', () => {
    const all = secretsSeen.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toContain(SUPERUSER_PASSWORD);
    expect(all).not.toContain(encodeURIComponent(SUPERUSER_PASSWORD));
  });
});
