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
/** A backup of the first cycle, for the refused rollback. */
let made: { db: string; manifest: string } | undefined;

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
    made ??= { db, manifest };

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
  const ran = path.join(dir, 'ran');
  const previous = made as { db: string; manifest: string };
  const databases = await databasesLike(cluster, 'shop_');
  const checks = path.join(dir, 'refused.checks.yml');
  writeFileSync(
    checks,
    'post:\n  - {id: one, kind: sql, severity: critical, query: "SELECT 1", expect: "== 1"}\n',
  );
  const messages: Record<string, string[]> = {};
  for (const [what, rootcert, host] of [
    ['ca', cluster.certs.otherCa, '127.0.0.1'],
    ['host', cluster.certs.ca, '127.0.0.2'],
  ] as const) {
    const url = (database: string): string => cluster.tlsUrl(database, 'verify-full', rootcert, host);
    const results = [
      await runAction('backup', {
        'database-url': url(db),
        'output-dir': out,
        'protected-tables': PROTECTED,
        snapshot: 'true',
        'stop-command': `touch ${ran}`,
        'start-command': 'true',
      }),
      await runAction('migrate', { 'database-url': url(db), steps: `never: touch ${ran}` }),
      await runAction('validate', { 'checks-file': checks, phase: 'post', 'database-url': url(db) }),
      await runAction('rollback', {
        'database-url': url(previous.db),
        manifest: previous.manifest,
        'stop-command': `touch ${ran}`,
        'start-command': 'true',
      }),
    ];
    for (const result of results) {
      expect(result.exitCode).not.toBe(0);
      expect(leakedSecret(result, cluster.password)).toBe(false);
    }
    expect(results[3]?.outputs.verdict).toBe('refused');
    messages[what] = results.map((r) => r.errors.join('\n'));
  }
  for (const message of messages.ca ?? []) {
    expect(message).toContain(`is not signed by the CA file ${cluster.certs.otherCa}`);
  }
  for (const message of messages.host ?? []) {
    expect(message).toContain('does not name the host "127.0.0.2" (name mismatch');
  }
  expect(existsSync(ran)).toBe(false);
  expect(await databasesLike(cluster, 'shop_')).toEqual(databases);
  expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
});

test("the server's log shows every TCP session of the suite and of the client tools used TLS", () => {
  const sessions = cluster.tcpSessions();
  expect(sessions.filter((s) => !s.tls)).toEqual([]);
  const applications = new Set(
    sessions.map((s) => s.application.replace(/^migration-guard.*/, 'migration-guard')),
  );
  for (const app of ['migration-guard', 'pg_dump', 'pg_restore', 'psql']) expect(applications).toContain(app);
});
