import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { runAction, type ActionResult } from '../harness/action';
import { freePort, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';
import { problemsOf } from '../harness/summary-check';

import { markerHooks, seedShop, tempDir, wrapperBinDir } from './backup-fixture';
import { writeChecks } from './validate-support';

/**
 * Representative runs of every action, success and failure, each summary rendered as GitHub
 * renders markdown and checked (test/harness/summary-check.ts). With MG_SUMMARY_CAPTURE set, each
 * summary and its annotations are also written there (docs/summaries.md is made from them).
 */
let cluster: PostgresCluster;
let s3: S3Server;
let manifestUri = '';
let manifestPath = '';
const CAPTURE = process.env.MG_SUMMARY_CAPTURE;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('summaries'), startS3()]);
  await seedShop(cluster);
}, 120_000);
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

function annotations(r: ActionResult): string[] {
  return r.logs.split('\n').filter((l) => /^::(error|warning|notice)/.test(l));
}

/** Checks the rendered summary and keeps it for the docs when asked to. */
function check(name: string, r: ActionResult): void {
  if (CAPTURE) {
    mkdirSync(CAPTURE, { recursive: true });
    writeFileSync(path.join(CAPTURE, `${name}.md`), r.summary);
    writeFileSync(path.join(CAPTURE, `${name}.annotations`), annotations(r).join('\n'));
  }
  expect(r.summary.trim()).not.toBe('');
  expect(problemsOf(r.summary)).toEqual([]);
}

function firstLine(r: ActionResult): string {
  return r.summary.trimStart().split('\n')[0] ?? '';
}

test('backup: verified with an offsite copy', async () => {
  const hooks = markerHooks(tempDir('hooks'));
  const r = await runAction(
    'backup',
    {
      'database-url': cluster.url('shop'),
      'output-dir': tempDir('out'),
      's3-uri': `s3://${s3.bucket}/prod/`,
      's3-endpoint': s3.endpoint,
      'protected-tables': 'orders, order_items',
      'code-ref': 'v1.4.2',
      snapshot: 'true',
      'stop-command': hooks['stop-command'],
      'start-command': hooks['start-command'],
    },
    { env: s3.env },
  );
  expect(r.exitCode).toBe(0);
  manifestUri = r.outputs['manifest-uri'] ?? '';
  manifestPath = r.outputs['manifest-path'] ?? '';
  check('backup-verified', r);
  expect(firstLine(r)).toMatch(/verified/);
  expect(firstLine(r)).toContain(manifestUri);
  expect(r.summary).toContain(`manifest=${manifestUri}`);
  expect(annotations(r).filter((l) => l.startsWith('::notice'))).toHaveLength(1);
});

test('backup: pg_dump fails', async () => {
  const r = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': tempDir('out'),
    'pg-bin-dir': wrapperBinDir(
      cluster.binDir,
      'echo "pg_dump: error: query failed: ERROR:  permission denied for table orders" >&2; exit 1',
    ),
  });
  expect(r.exitCode).toBe(1);
  check('backup-failed', r);
  expect(firstLine(r)).toMatch(/failed/);
  expect(firstLine(r)).toContain('permission denied');
  expect(annotations(r).filter((l) => l.startsWith('::error'))).toHaveLength(1);
});

test('migrate: every step succeeds', async () => {
  const r = await runAction('migrate', {
    'database-url': cluster.url('shop'),
    steps: ['migrate: echo migrating', 'import: echo importing'].join('\n'),
    'maintenance-on-command': 'echo on',
    'maintenance-off-command': 'echo off',
  });
  expect(r.exitCode).toBe(0);
  check('migrate-succeeded', r);
  expect(annotations(r).filter((l) => l.startsWith('::notice'))).toHaveLength(1);
});

test('migrate: a step fails, its last error lines lead', async () => {
  const r = await runAction('migrate', {
    'database-url': cluster.url('shop'),
    steps: [
      'migrate: echo "Applying shop.0003_fill_prices..."; echo "django.db.utils.ProgrammingError: column <price> does not exist" >&2; exit 1',
      'import: echo importing',
    ].join('\n'),
    'maintenance-on-command': 'echo on',
    'maintenance-off-command': 'echo off',
  });
  expect(r.exitCode).toBe(1);
  check('migrate-failed', r);
  expect(firstLine(r)).toContain('migrate');
  expect(r.summary.split('\n').slice(0, 12).join('\n')).toContain('ProgrammingError');
  expect(annotations(r).filter((l) => l.startsWith('::error'))).toHaveLength(1);
});

const CHECKS = `post:
  - {id: protected, kind: unchanged, severity: critical, tables: [orders, order_items]}
  - {id: orders-kept, kind: sql, severity: critical, description: "orders <= total", query: "SELECT count(*) FROM orders", expect: ">= 1"}
  - {id: products-imported, kind: sql, severity: critical, on-failure: rollback, query: "SELECT count(*) FROM products", expect: "== 999"}
`;

test('validate: pass, and a failed import decides rollback', async () => {
  const pass = await runAction('validate', {
    'checks-file': writeChecks(CHECKS.split('\n').slice(0, 3).join('\n') + '\n'),
    phase: 'post',
    'database-url': cluster.url('shop'),
    manifest: manifestPath,
  });
  expect(pass.outputs.verdict).toBe('pass');
  check('validate-pass', pass);
  expect(annotations(pass).filter((l) => l.startsWith('::notice'))).toHaveLength(1);

  const failing = await runAction('validate', {
    'checks-file': writeChecks(CHECKS),
    phase: 'post',
    'database-url': cluster.url('shop'),
    manifest: manifestPath,
  });
  expect(failing.outputs.verdict).toBe('rollback');
  check('validate-rollback', failing);
  expect(firstLine(failing)).toContain('products-imported');
  const errors = annotations(failing).filter((l) => l.startsWith('::error'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/file=.*checks\.yml,line=4/);
});

test('rollback: restored, unhealthy and refused', async () => {
  await cluster.query('DELETE FROM order_items WHERE id % 7 = 0', 'shop');
  const restored = await runAction('rollback', {
    'database-url': cluster.url('shop'),
    manifest: manifestPath,
  });
  expect(restored.outputs.verdict).toBe('restored');
  check('rollback-restored', restored);
  expect(firstLine(restored)).toMatch(/restored/);
  expect(annotations(restored).filter((l) => l.startsWith('::notice'))).toHaveLength(1);

  const closed = await freePort();
  const unhealthy = await runAction('rollback', {
    'database-url': cluster.url('shop'),
    manifest: manifestPath,
    'health-urls': `http://127.0.0.1:${closed}/health/`,
    'health-timeout': '2s',
  });
  expect(unhealthy.outputs.verdict).toBe('unhealthy');
  check('rollback-unhealthy', unhealthy);

  const refused = await runAction('rollback', {
    'database-url': cluster.url('other'),
    manifest: manifestPath,
  });
  expect(refused.outputs.verdict).toBe('refused');
  check('rollback-refused', refused);
}, 120_000);
