import { existsSync, readFileSync } from 'node:fs';

import { withClient } from '../../src/postgres/client';
import { countRows, fingerprintTables, type TableFingerprint } from '../../src/postgres/fingerprint';
import { connectionFromUrl } from '../../src/postgres/server-parse';
import { runAction } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort } from '../harness/postgres';

// `evidence: background`: the step returns as soon as the restore point is archived, and the
// migration runs while a detached process reads the evidence in the point's snapshot. What is
// checked: the migration never waits for the evidence (its DDL runs under a 1 s lock_timeout), the
// evidence is the point's and not the migration's, a table the migration rewrote first is a gap, the
// rollback to the point restores and proves the rest, and a killed evidence process leaves no
// manifest.
let c: PgBackRestCluster;
let atPoint: { fingerprints: TableFingerprint[]; counts: Record<string, number> };

const PROTECTED = ['public.orders', 'public.order_items'];

async function evidenceNow(): Promise<typeof atPoint> {
  return withClient(
    connectionFromUrl(c.url('shop')),
    async (client) => ({
      fingerprints: await fingerprintTables(client, PROTECTED, { sequences: false }),
      counts: await countRows(client, ['public.products', 'public.audit_log']),
    }),
    { stableOutput: true },
  );
}

beforeAll(async () => {
  c = await startPgBackRestCluster('pgbr-evidence');
  await c.query('CREATE DATABASE shop');
  await c.query(
    `CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, total numeric NOT NULL, note text);
     INSERT INTO orders (customer, total, note) SELECT g % 977, g * 1.5, md5(g::text) FROM generate_series(1, 1500000) g;
     CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL, qty int NOT NULL);
     INSERT INTO order_items (order_id, sku, qty) SELECT g, 'sku-' || (g % 5000), g % 7 + 1 FROM generate_series(1, 1500000) g;
     CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL);
     INSERT INTO products (name) SELECT 'p' || g FROM generate_series(1, 20000) g;
     CREATE TABLE audit_log (id serial PRIMARY KEY, line text);
     INSERT INTO audit_log (line) SELECT 'l' || g FROM generate_series(1, 1000) g;`,
    'shop',
  );
  await c.query('VACUUM ANALYZE', 'shop');
  atPoint = await evidenceNow();
}, 300_000);

afterAll(() => c?.stop());

const backupInputs = (): Record<string, string> => ({
  'database-url': c.url('shop'),
  engine: 'pgbackrest',
  'pgbackrest-stanza': c.stanza,
  'pgbackrest-config': c.config,
  'protected-tables': 'orders, order_items',
  'output-dir': `${c.root}/manifests`,
  evidence: 'background',
});

test('the migration runs while the evidence is read, never waits for it, and does not change it', async () => {
  const backup = await runAction('backup', { ...backupInputs(), 'pgbackrest-backup-type': 'incr' });
  expect(backup.errors).toEqual([]);
  expect(backup.outputs.status).toBe('running');
  const id = backup.outputs['backup-id']!;
  expect(id).toMatch(/^shop-/);
  expect(backup.outputs['manifest-path']).toBe('');
  expect(backup.summary).toMatch(
    /^<h2>✅ Recovery point \S+ of shop: restore point archived in [\d.]+ s; its evidence is being read in the background/,
  );

  // The migration, at once: DDL on a protected table the evidence is reading (it must not wait
  // more than 1 s), data changes, and a TRUNCATE of a table the evidence has not read yet.
  await c.query(
    `SET lock_timeout = '1s';
     TRUNCATE audit_log;
     ALTER TABLE orders ADD COLUMN migrated boolean;
     UPDATE orders SET total = total + 1 WHERE id <= 1000;
     DELETE FROM products WHERE id > 100;
     INSERT INTO audit_log (line) VALUES ('after');`,
    'shop',
  );
  const log = `${c.root}/manifests/${id}.background.log`;
  const wait = await runAction('backup', { 'wait-for': id, 'output-dir': `${c.root}/manifests` });
  expect(wait.errors).toEqual([]);
  expect(wait.outputs.status).toBe('verified');
  const manifestPath = wait.outputs['manifest-path']!;
  expect(manifestPath).toBe(`${c.root}/manifests/${id}.manifest.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    fingerprints: TableFingerprint[];
    rowCounts: Record<string, number>;
    evidenceGaps?: { table: string; reason: string }[];
    restorePoint: { name: string };
  };
  expect(manifest.restorePoint.name).toBe(id);
  // The point's state, not the migration's.
  expect(manifest.fingerprints.map((f) => [f.table, f.rows, f.hash])).toEqual(
    atPoint.fingerprints.map((f) => [f.table, f.rows, f.hash]),
  );
  expect(manifest.rowCounts['public.products']).toBe(atPoint.counts['public.products']);
  // Rewritten by TRUNCATE before it was read: no evidence, said so.
  expect(manifest.evidenceGaps).toEqual([
    { table: 'public.audit_log', reason: expect.stringMatching(/rewritten, truncated or replaced/) },
  ]);
  expect(manifest.rowCounts['public.audit_log']).toBeUndefined();
  expect(wait.summary).toMatch(
    /^<h2>⚠️ Recovery point \S+ of shop: restore point archived; no evidence of public\.audit_log/,
  );
  // The evidence gave way to the ALTER TABLE (the 1 s lock_timeout above would have failed it).
  expect(readFileSync(log, 'utf8')).toMatch(/evidence: orders given up to a session waiting for it/);
  expect(wait.logs + backup.logs + readFileSync(log, 'utf8')).not.toContain('p@ss');

  const rollback = await runAction('rollback', {
    'database-url': c.url('shop'),
    manifest: manifestPath,
    strategy: 'pitr',
    pgdata: c.dataDir,
    'side-port': String(await freePort()),
  });
  expect(rollback.errors).toEqual([]);
  expect(rollback.outputs.verdict).toBe('restored');
  expect(await evidenceNow()).toEqual(atPoint);
  expect(await c.query("SELECT 1 FROM pg_attribute WHERE attname = 'migrated'", 'shop')).toEqual([]);
  // The side was proven with no archive command; the cluster in place archives its new timeline.
  const [{ tl }] = (await c.query<{ tl: number }>(
    'SELECT timeline_id AS tl FROM pg_control_checkpoint()',
  )) as [{ tl: number }];
  const history = `${tl.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const archiveId = `${readFileSync(`${c.dataDir}/PG_VERSION`, 'utf8').trim()}-1`;
  let listed = '';
  for (let i = 0; i < 100 && !listed.includes(history); i++) {
    await new Promise((r) => setTimeout(r, 200));
    listed = c.pgbackrest('repo-ls', `archive/${c.stanza}/${archiveId}`);
  }
  expect(listed).toContain(history);
}, 600_000);

test('a killed evidence process: wait-for fails and no manifest exists', async () => {
  const backup = await runAction('backup', backupInputs());
  expect(backup.errors).toEqual([]);
  expect(backup.outputs.status).toBe('running');
  const id = backup.outputs['backup-id']!;
  const state = JSON.parse(readFileSync(`${c.root}/manifests/${id}.background.json`, 'utf8')) as {
    pid: number;
  };
  process.kill(-state.pid, 'SIGKILL');
  const wait = await runAction('backup', { 'wait-for': id, 'output-dir': `${c.root}/manifests` });
  expect(wait.exitCode).not.toBe(0);
  expect(wait.outputs.status).toBe('failed');
  expect(wait.outputs['manifest-path'] ?? '').toBe('');
  expect(wait.errors.join('\n')).toMatch(/ended without a result: it was killed or crashed/);
  expect(existsSync(`${c.root}/manifests/${id}.manifest.json`)).toBe(false);
}, 300_000);

test('evidence with engine pg-dump is refused by name before anything', async () => {
  const r = await runAction('backup', {
    'database-url': c.url('shop'),
    evidence: 'background',
    'output-dir': `${c.root}/refused`,
  });
  expect(r.exitCode).not.toBe(0);
  expect(r.errors.join('\n')).toMatch(/Input "evidence" applies to engine: pgbackrest only .*background/);
  expect(existsSync(`${c.root}/refused`)).toBe(false);
});
