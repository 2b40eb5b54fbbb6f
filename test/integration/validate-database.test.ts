import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { MANIFEST_FORMAT, writeManifestFile, type BackupManifest } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { fingerprintTables } from '../../src/postgres/fingerprint';
import { ROOT, runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { leaks, resultsOf, startServer, writeChecks, type TestServer } from './validate-support';

const EXAMPLE = path.join(ROOT, 'examples', 'freesport', 'checks.yml');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'commerceml');
const PROTECTED = ['public.orders', 'public.order_items', 'public.cart_items', 'public.auth_user'];

let cluster: PostgresCluster;
let api: TestServer;
let dir: string;
let manifestFile: string;

/** A v2-shaped shop: 3 products and 6 variants, as in the fixtures goods.xml / offers.xml. */
const SCHEMA = `
CREATE TABLE color_mappings (id serial PRIMARY KEY, name text NOT NULL, hex_code text NOT NULL);
INSERT INTO color_mappings (name, hex_code) SELECT 'color ' || i, '#0000' || lpad(i::text, 2, '0') FROM generate_series(1, 20) i;
CREATE TABLE products (id serial PRIMARY KEY, onec_id text UNIQUE, name text, slug text UNIQUE, is_active boolean DEFAULT true);
INSERT INTO products (onec_id, name, slug) SELECT 'p' || i, 'Model ' || i, 'model-' || i FROM generate_series(1, 3) i;
CREATE TABLE product_variants (id serial PRIMARY KEY, product_id int REFERENCES products, onec_id text,
  retail_price numeric(12,2), opt_price numeric(12,2), stock_quantity int);
INSERT INTO product_variants (product_id, onec_id, retail_price, opt_price, stock_quantity)
  SELECT p, 'p' || p || '#v' || v, 1000, 700, 5 FROM generate_series(1, 3) p, generate_series(1, 2) v;
CREATE TABLE auth_user (id serial PRIMARY KEY, username text, password text);
INSERT INTO auth_user (username, password) VALUES ('anna', 'pbkdf2$x'), ('boris', 'pbkdf2$y');
CREATE TABLE orders (id serial PRIMARY KEY, user_id int, total numeric(12,2), created_at timestamptz DEFAULT '2025-11-01');
INSERT INTO orders (user_id, total) SELECT 1 + i % 2, i * 10.5 FROM generate_series(1, 50) i;
CREATE TABLE order_items (id serial PRIMARY KEY, order_id int, product_name text, qty int);
INSERT INTO order_items (order_id, product_name, qty) SELECT 1 + i % 50, 'item ' || i, 1 + i % 3 FROM generate_series(1, 120) i;
CREATE TABLE cart_items (id serial PRIMARY KEY, user_id int, product_name text);
INSERT INTO cart_items (user_id, product_name) VALUES (1, 'ball'), (2, 'shoes');
CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz DEFAULT now());
INSERT INTO django_migrations (app, name) VALUES ('orders', '0001_initial'), ('products', '0001_initial'),
  ('products', '0002_seed_base_colors'), ('products', '0003_productvariant');
`;

async function freshShop(db: string): Promise<void> {
  await cluster.query(`DROP DATABASE IF EXISTS ${db}`);
  await cluster.query(`CREATE DATABASE ${db}`);
  await cluster.query(SCHEMA, db);
}

beforeAll(async () => {
  cluster = await startPostgres('validate-db');
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-db-'));
  for (const f of ['goods.xml', 'offers.xml']) copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
  for (const f of ['prices.xml', 'rests.xml'])
    copyFileSync(path.join(FIXTURES, 'offers.xml'), path.join(dir, f));
  await freshShop('shop');
  const settings = {
    host: '127.0.0.1',
    port: cluster.port,
    user: 'postgres',
    password: cluster.password,
    database: 'shop',
  };
  const fingerprints = await withClient(settings, (c) => fingerprintTables(c, PROTECTED), {
    stableOutput: true,
  });
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backupId: 'shop-20251202T020000Z-ab12',
    database: 'shop',
    server: { version: '15', major: 15, host: '127.0.0.1', port: cluster.port },
    dump: {
      tool: 'pg_dump',
      toolVersion: '15',
      format: 'custom',
      compression: 'none',
      flags: [],
      file: 'shop.dump',
      sizeBytes: 1,
      sha256: 'a'.repeat(64),
    },
    startedAt: '2025-12-02T02:00:00Z',
    finishedAt: '2025-12-02T02:00:05Z',
    snapshotTakenAt: '2025-12-02T02:00:00Z',
    rowCounts: Object.fromEntries(fingerprints.map((f) => [f.table, f.rows])),
    fingerprints,
    timings: {},
  };
  manifestFile = path.join(dir, 'shop.manifest.json');
  await writeManifestFile(manifestFile, manifest);
  const product = { slug: 'model-1', variants: [{ retail_price: '1000.00' }] };
  api = await startServer({
    '/api/health/': { body: { status: 'ok', database: true } },
    '/api/v1/products/': {
      body: { count: 3, results: [{ slug: 'model-1' }, { slug: 'model-2' }, { slug: 'model-3' }] },
    },
    '/api/v1/products/model-1/': { body: product },
    '/api/v1/categories/': { body: [{ slug: 'shoes' }] },
  });
});

afterAll(async () => {
  await api?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function validate(
  checksFile: string,
  phase: string,
  extra: Record<string, string> = {},
  db = 'shop',
): ReturnType<typeof runAction> {
  return runAction(
    'validate',
    { 'checks-file': checksFile, phase, 'database-url': cluster.url(db), manifest: manifestFile, ...extra },
    {
      env: {
        ONEC_DIR: dir,
        APP_URL: api.url,
        ONEC_HEALTH_URL: `${api.url}/api/health/`,
        MAINTENANCE_BYPASS_TOKEN: 'token-the-stand-in-ignores',
      },
    },
  );
}

test('the story example, post phase, passes on a correct v2 shop: counts from the XML files, columns, protected tables, API', async () => {
  const r = await validate(EXAMPLE, 'post');
  expect(resultsOf(r).filter((x) => !x.passed)).toEqual([]);
  expect(r.exitCode).toBe(0);
  expect(r.outputs.verdict).toBe('pass');
  expect(r.outputs['failed-checks']).toBe('');
  const results = resultsOf(r);
  expect(results.find((x) => x.id === 'products-imported')).toMatchObject({
    expected: '== 3',
    observed: '3',
  });
  expect(results.find((x) => x.id === 'variants-imported')).toMatchObject({
    expected: '== 6',
    observed: '6',
  });
  expect(r.summary).toContain('Verdict: pass');
  expect(r.summary).toContain('Phase post');
  expect(r.summary).toContain('Protected tables against backup shop-20251202T020000Z-ab12');
  expect(api.requests.some((q) => q.path === '/api/v1/products/model-1/')).toBe(true);
  expect(leaks(r, cluster.password)).toBe(false);
});

test('the example pre phase passes with fresh 1C files, a reachable 1C and 20 colours', async () => {
  const r = await validate(EXAMPLE, 'pre');
  expect(resultsOf(r).map((x) => [x.id, x.passed])).toEqual([
    ['onec-reachable', true],
    ['onec-files', true],
    ['color-mappings', true],
  ]);
  expect(r.outputs.verdict).toBe('pass');
});

describe('decision matrix rows', () => {
  afterEach(async () => freshShop('matrix'));
  beforeAll(async () => freshShop('matrix'));

  test('Django migration failed → rollback: an unapplied migration, the old column still there; the step fails', async () => {
    await cluster.query(
      `DELETE FROM django_migrations WHERE name = '0003_productvariant'; ALTER TABLE products ADD COLUMN retail_price numeric`,
      'matrix',
    );
    const r = await validate(EXAMPLE, 'post', {}, 'matrix');
    expect(r.outputs.verdict).toBe('rollback');
    expect(r.exitCode).toBe(1);
    const failed = (r.outputs['failed-checks'] ?? '').split(',');
    expect(failed).toEqual(expect.arrayContaining(['migrations-applied', 'old-columns-gone']));
    const migrations = resultsOf(r).find((x) => x.id === 'migrations-applied');
    expect(migrations?.message).toBe('unapplied migrations: products.0003_productvariant');
    expect(resultsOf(r).find((x) => x.id === 'old-columns-gone')?.observed).toBe(
      'still present: products.retail_price',
    );
    expect(r.summary).toContain('Django migration failed');
    expect(r.errors.join('\n')).toMatch(
      /::error title=Check "migrations-applied" failed → rollback,file=.*checks\.yml,line=\d+::/,
    );
    expect(r.errors.join('\n')).toMatch(/Verdict rollback \(fail-on: rollback\)/);
    expect(leaks(r, cluster.password)).toBe(false);
  });

  test('1C import failed → rollback: fewer products than goods.xml; with fail-on never the step passes but says rollback', async () => {
    await cluster.query(
      `DELETE FROM product_variants WHERE product_id = 3; DELETE FROM products WHERE id = 3`,
      'matrix',
    );
    const r = await validate(EXAMPLE, 'post', { 'fail-on': 'never' }, 'matrix');
    expect(r.exitCode).toBe(0);
    expect(r.outputs.verdict).toBe('rollback');
    const imported = resultsOf(r).find((x) => x.id === 'products-imported');
    expect(imported).toMatchObject({
      passed: false,
      expected: '== 3',
      observed: '2',
      message: '2 is not == 3',
    });
    expect(r.summary).toContain('1C import failed (Product count differs from goods.xml)');
  });

  test('ColorMapping missing → hotfix; the default fail-on (rollback) lets the step pass', async () => {
    await cluster.query(`DELETE FROM color_mappings WHERE id > 15`, 'matrix');
    const r = await validate(EXAMPLE, 'pre', {}, 'matrix');
    expect(r.outputs.verdict).toBe('hotfix');
    expect(r.outputs['failed-checks']).toBe('color-mappings');
    expect(r.exitCode).toBe(0);
    expect(r.logs).toMatch(/::warning title=Check "color-mappings" failed → hotfix/);
    const h = await validate(EXAMPLE, 'pre', { 'fail-on': 'hotfix' }, 'matrix');
    expect(h.exitCode).toBe(1);
  });

  test('protected tables: a changed value and a lost row are both seen', async () => {
    await cluster.query(
      `UPDATE orders SET total = total + 0.01 WHERE id = 7; DELETE FROM cart_items WHERE id = 2`,
      'matrix',
    );
    const checks = writeChecks(
      `post:\n  - {id: protected, kind: unchanged, severity: critical, tables: [orders, order_items, cart_items, auth_user]}\n`,
    );
    const r = await validate(checks, 'post', {}, 'matrix');
    const result = resultsOf(r)[0];
    expect(result?.passed).toBe(false);
    expect(result?.message).toContain('public.orders (content changed)');
    expect(result?.message).toContain('public.cart_items (rows 2 → 1)');
    expect(r.outputs.verdict).toBe('rollback');
  });
});

test('sql runs read-only: a write or a second statement fails the check and changes nothing', async () => {
  const checks = writeChecks(`post:
  - {id: cte-delete, kind: sql, severity: critical, query: "WITH d AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM d", expect: "== 0"}
  - {id: two-statements, kind: sql, severity: critical, query: "SELECT 1; DELETE FROM orders", expect: "== 1"}
  - {id: slow, kind: sql, severity: high, timeout: 300ms, query: "SELECT pg_sleep(5)::text", expect: "== x"}
  - {id: not-scalar, kind: sql, severity: low, query: "SELECT id, total FROM orders", expect: "== 1"}
  - {id: orders, kind: sql, severity: low, query: "SELECT count(*) FROM orders", expect: "between 1 and 100"}
`);
  const r = await validate(checks, 'post');
  const byId = new Map(resultsOf(r).map((x) => [x.id, x]));
  expect(byId.get('cte-delete')?.message).toMatch(/read-only transaction/);
  expect(byId.get('two-statements')?.message).toMatch(/multiple commands/);
  expect(byId.get('slow')?.message).toMatch(/statement timeout/);
  expect(byId.get('not-scalar')?.message).toBe('the query must return exactly one row with one column');
  expect(byId.get('orders')).toMatchObject({ passed: true, observed: '50' });
  expect((await cluster.query<{ n: string }>('SELECT count(*)::text AS n FROM orders', 'shop'))[0]?.n).toBe(
    '50',
  );
});

test('a wrong password makes the database checks fail, not the action crash, and the password stays out of the logs', async () => {
  const checks = writeChecks(
    `post:\n  - {id: colors, kind: sql, severity: low, query: "SELECT count(*) FROM color_mappings", expect: ">= 20"}\n`,
  );
  const wrong = 'n0t:the@pass/word%';
  const r = await runAction('validate', {
    'checks-file': checks,
    phase: 'post',
    'database-url': cluster.url('shop', 'postgres', wrong),
  });
  expect(r.outputs.verdict).toBe('hotfix');
  expect(resultsOf(r)[0]?.message).toMatch(/password authentication failed/);
  expect(leaks(r, wrong)).toBe(false);
});

test('inputs: a phase whose checks need the manifest without one is refused before any check runs', async () => {
  const r = await runAction('validate', {
    'checks-file': EXAMPLE,
    phase: 'post',
    'database-url': cluster.url('shop'),
  });
  expect(r.exitCode).toBe(1);
  expect(r.errors.join('\n')).toContain(
    'Input required and not supplied: manifest (check "protected-tables"',
  );
  expect(r.outputs.verdict).toBeUndefined();
  expect(leaks(r, cluster.password)).toBe(false);
});
