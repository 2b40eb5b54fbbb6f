import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAction, type ActionResult } from '../harness/action';
import { databasesLike, leakedSecret, seedShop } from '../harness/make-backup';
import { startTlsPostgres, type TlsCluster } from '../harness/tls';

/**
 * Every action against a server that accepts only TLS (as managed PostgreSQL does), with the CA
 * file in the URL: backup with a snapshot, migrate (a psql step), validate, rollback by snapshot
 * and by swap — and the server's log shows that every session, the suite's and the client tools',
 * used TLS.
 */
const PROTECTED = 'orders, order_items';
let cluster: TlsCluster;
let dir: string;

beforeAll(async () => {
  cluster = await startTlsPostgres('tls-actions');
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-tls-actions-'));
});
afterAll(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function expectOk(result: ActionResult): void {
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(leakedSecret(result, cluster.password)).toBe(false);
}

async function ordersCount(db: string): Promise<number> {
  const rows = await cluster.query<{ n: string }>('SELECT count(*)::text AS n FROM orders', db);
  return Number(rows[0]?.n);
}

test.each(['require', 'verify-ca', 'verify-full'])(
  'backup, migrate, validate and rollback (snapshot, swap) over sslmode=%s',
  async (mode) => {
    const db = `shop_${mode.replace('-', '_')}`;
    await seedShop(cluster, db);
    const url = cluster.tlsUrl(db, mode);
    const out = path.join(dir, db);

    const backup = await runAction('backup', {
      'database-url': url,
      'output-dir': out,
      'protected-tables': PROTECTED,
      snapshot: 'true',
    });
    expectOk(backup);
    const snapshot = backup.outputs['snapshot-database'] ?? '';
    expect(await databasesLike(cluster, `${db}_snap_`)).toEqual([snapshot]);
    const manifest = backup.outputs['manifest-path'] ?? '';

    const before = await ordersCount(db);
    const migrate = await runAction('migrate', {
      'database-url': url,
      steps: 'change: psql -v ON_ERROR_STOP=1 -Atc "DELETE FROM orders WHERE id % 3 = 0"',
    });
    expectOk(migrate);
    expect(await ordersCount(db)).toBeLessThan(before);

    const checks = path.join(dir, `${db}.checks.yml`);
    writeFileSync(
      checks,
      'post:\n  - {id: orders, kind: sql, severity: critical, query: "SELECT count(*) FROM orders", expect: ">= 1"}\n',
    );
    const validate = await runAction('validate', {
      'checks-file': checks,
      phase: 'post',
      'database-url': url,
    });
    expectOk(validate);
    expect(validate.outputs.verdict).toBe('pass');

    const bySnapshot = await runAction('rollback', { 'database-url': url, manifest, strategy: 'snapshot' });
    expectOk(bySnapshot);
    expect(bySnapshot.outputs.verdict).toBe('restored');
    expect(bySnapshot.outputs['restored-from']).toBe(`database ${snapshot}`);
    expect(await ordersCount(db)).toBe(before);

    const bySwap = await runAction('rollback', { 'database-url': url, manifest, strategy: 'swap' });
    expectOk(bySwap);
    expect(bySwap.outputs.verdict).toBe('restored');
    expect(bySwap.outputs['restored-from']).toBe(backup.outputs['backup-path']);
    expect(await ordersCount(db)).toBe(before);
  },
);

test('a wrong CA and a wrong host name are refused before any side effect, with distinct messages', async () => {
  const db = 'shop_refused';
  await seedShop(cluster, db);
  const out = path.join(dir, db);
  const attempts = {
    ca: cluster.tlsUrl(db, 'verify-full', cluster.certs.otherCa),
    host: cluster.tlsUrl(db, 'verify-full', cluster.certs.ca, '127.0.0.2'),
  };
  const messages: Record<string, string> = {};
  for (const [what, url] of Object.entries(attempts)) {
    const backup = await runAction('backup', {
      'database-url': url,
      'output-dir': out,
      'protected-tables': PROTECTED,
      snapshot: 'true',
    });
    expect(backup.exitCode).not.toBe(0);
    expect(leakedSecret(backup, cluster.password)).toBe(false);
    messages[what] = backup.errors.join('\n');
    const ran = path.join(dir, 'ran');
    const migrate = await runAction('migrate', { 'database-url': url, steps: `never: touch ${ran}` });
    expect(migrate.exitCode).not.toBe(0);
    expect(existsSync(ran)).toBe(false);
  }
  expect(messages.ca).toContain(`is not signed by the CA file ${cluster.certs.otherCa}`);
  expect(messages.host).toContain('does not name the host "127.0.0.2" (name mismatch');
  expect(await databasesLike(cluster, `${db}_`)).toEqual([]);
  expect(readdirSync(dir).includes(db) ? readdirSync(out).filter((f) => !f.startsWith('.')) : []).toEqual([]);
});

test("the server's log shows every TCP session of the suite and of the client tools used TLS", () => {
  const sessions = cluster.tcpSessions();
  expect(sessions.filter((s) => !s.tls)).toEqual([]);
  const applications = new Set(
    sessions.map((s) => s.application.replace(/^migration-guard.*/, 'migration-guard')),
  );
  for (const app of ['migration-guard', 'pg_dump', 'pg_restore', 'psql']) expect(applications).toContain(app);
});
