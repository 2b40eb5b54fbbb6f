import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { GetObjectCommand } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { fingerprintTables } from '../../src/postgres/fingerprint';
import { acquireLock } from '../../src/postgres/lock';
import { runAction, type ActionResult } from '../harness/action';
import { SUPERUSER_PASSWORD, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir, wrapperBinDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;
const TABLES = ['public.orders', 'public.order_items', 'public.products'];

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-background'), startS3()]);
  await seedShop(cluster, 'shop', 20000);
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

function inputs(out: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'database-url': cluster.url('shop'),
    'output-dir': out,
    's3-uri': `s3://${s3.bucket}/prod/`,
    's3-endpoint': s3.endpoint,
    'protected-tables': 'orders, order_items, products',
    snapshot: 'first',
    dump: 'background',
    ...extra,
  };
}

async function objectSha256(key: string): Promise<string> {
  const r = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of r.Body as Readable) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function databases(like: string): Promise<string[]> {
  const rows = await cluster.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1',
    'postgres',
    [like],
  );
  return rows.map((r) => r.datname);
}

/** The background process's own log: no runner masks it, so the password must never be in it. */
function expectNoSecretInLog(file: string): void {
  const text = readFileSync(file, 'utf8');
  for (const form of [
    SUPERUSER_PASSWORD,
    encodeURIComponent(SUPERUSER_PASSWORD),
    encodeURI(SUPERUSER_PASSWORD),
  ]) {
    expect(text.includes(form)).toBe(false);
  }
  expect(text).not.toContain('::add-mask::');
}

function waitFor(out: string, id: string, extra: Record<string, string> = {}): Promise<ActionResult> {
  return runAction('backup', { 'wait-for': id, 'output-dir': out, ...extra }, { env: s3.env });
}

test('snapshot first, dump in the background: the step returns at the snapshot, wait-for reports the verified backup of the snapshot', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  // pg_dump starts 3 s late: rows written to the live database meanwhile would be in a dump of it.
  const slow = wrapperBinDir(cluster.binDir, 'sleep 3; exec "$REAL" "$@"');
  const first = await runAction('backup', inputs(out, { 'pg-bin-dir': slow, ...hooks }), { env: s3.env });
  expect(first.errors).toEqual([]);
  expect(first.exitCode).toBe(0);
  const id = first.outputs['backup-id'] as string;
  expect(id).toMatch(/^shop-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  expect(first.outputs.status).toBe('running');
  expect(first.outputs['backup-path']).toBeUndefined();
  const snap = first.outputs['snapshot-database'] as string;
  expect(snap).toMatch(/^shop_snap_\d{8}t\d{6}z_[0-9a-f]{4}$/);
  expect(await databases('shop_snap_%')).toContain(snap);
  expect(existsSync(hooks.stopped) && existsSync(hooks.started)).toBe(true);
  expect(first.summary).toContain(`wait-for: ${id}`);
  expect(first.summary).toContain('dump running in the background');
  // The lock was released with the step, while the background dump runs.
  const lock = await acquireLock(connectionFromUrl(cluster.url('shop')), { holder: 'migrate' });
  await lock.release();
  // The dump has not produced anything final yet.
  expect(filesIn(out).filter((f) => f.endsWith('.manifest.json'))).toEqual([]);

  const before = await withClient(
    connectionFromUrl(cluster.url('shop')),
    (c) => fingerprintTables(c, TABLES),
    {
      stableOutput: true,
    },
  );
  await cluster.query(
    `INSERT INTO orders (customer, total, placed) SELECT 'late', 1, DATE '2025-01-01' FROM generate_series(1, 50)`,
    'shop',
  );

  const waited = await waitFor(out, id);
  expect(waited.errors).toEqual([]);
  expect(waited.exitCode).toBe(0);
  const o = waited.outputs;
  expect(o.status).toBe('verified');
  expect(o['backup-id']).toBe(id);
  expect(o['backup-path']).toBe(path.join(out, `${id}.dump`));
  expect(o['manifest-path']).toBe(path.join(out, `${id}.manifest.json`));
  expect(o['backup-uri']).toBe(`s3://${s3.bucket}/prod/${id}.dump`);
  expect(o['manifest-uri']).toBe(`s3://${s3.bucket}/prod/${id}.manifest.json`);
  expect(o['snapshot-database']).toBe(snap);
  expect(Number(o['size-bytes'])).toBe(statSync(o['backup-path'] as string).size);
  expect(Number(o['duration-seconds'])).toBeGreaterThan(0);

  const manifest = await readManifestFile(o['manifest-path'] as string);
  expect(await sha256File(o['backup-path'] as string)).toBe(manifest.dump.sha256);
  expect(o.sha256).toBe(manifest.dump.sha256);
  expect(await objectSha256(`prod/${id}.dump`)).toBe(manifest.dump.sha256);
  expect(manifest.database).toBe('shop');
  expect(manifest.snapshotDatabase).toBe(snap);
  // The evidence is the snapshot's: the 50 rows written after the step returned are not in it.
  expect(manifest.rowCounts['public.orders']).toBe(20000);
  expect(manifest.fingerprints).toEqual(before);
  expect(manifest.dump.flags.join(' ')).not.toContain('--snapshot=');
  expect(waited.summary).toContain('Background log');
  expect(waited.summary).toMatch(/<td>Snapshot<\/td><td>✅ ok/);
  expect(waited.summary).toContain('writes after');
  expect(filesIn(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
  const record = JSON.parse(readFileSync(path.join(out, `${id}.background.json`), 'utf8')) as {
    status: string;
    pid: number;
  };
  expect(record.status).toBe('verified');
  for (const result of [first, waited]) expectNoSecret(result);
  expectNoSecretInLog(path.join(out, `${id}.background.log`));
  // No lock is left: a normal backup of the same database runs at once.
  const again = await runAction('backup', {
    'database-url': cluster.url('shop'),
    'output-dir': tempDir('out'),
  });
  expect(again.exitCode).toBe(0);
});

test('snapshot first, dump now: the dump of the snapshot database in the same step', async () => {
  const out = tempDir('out');
  const result = await runAction('backup', inputs(out, { dump: 'now' }), { env: s3.env });
  expect(result.errors).toEqual([]);
  expect(result.exitCode).toBe(0);
  expect(result.outputs.status).toBe('verified');
  const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
  expect(manifest.database).toBe('shop');
  expect(manifest.snapshotDatabase).toBe(result.outputs['snapshot-database']);
  expect(result.summary).toMatch(new RegExp(`of ${manifest.snapshotDatabase ?? 'x'}, read whole`));
  expectNoSecret(result);
});

test('the background dump killed: wait-for fails clearly, no manifest and no partial file are left', async () => {
  const out = tempDir('out');
  // The dump writes some bytes, then stalls.
  const stall = wrapperBinDir(cluster.binDir, '"$REAL" "$@" | { head -c 5000; sleep 30; cat; }');
  const first = await runAction('backup', inputs(out, { 'pg-bin-dir': stall }), { env: s3.env });
  expect(first.exitCode).toBe(0);
  const id = first.outputs['backup-id'] as string;
  const stateFile = path.join(out, `${id}.background.json`);
  const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
  for (let i = 0; i < 100 && !filesIn(out).some((f) => f.endsWith('.dump.partial')); i++)
    await new Promise((r) => setTimeout(r, 100));
  process.kill(pid, 'SIGKILL');

  const waited = await waitFor(out, id);
  expect(waited.exitCode).toBe(1);
  expect(waited.errors).toHaveLength(1);
  expect(waited.errors[0]).toMatch(
    new RegExp(
      `The background backup ${id} failed: its process \\(pid ${pid}\\) ended without a result: it was killed or crashed\\. .*Its log: .*${id}\\.background\\.log`,
    ),
  );
  expect(waited.outputs.status).toBe('failed');
  expect(waited.outputs['backup-path']).toBeUndefined();
  expect(filesIn(out).filter((f) => /\.(dump|manifest\.json|partial)$/.test(f))).toEqual([]);
  expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ status: 'failed' });
  expectNoSecret(waited);
  expectNoSecretInLog(path.join(out, `${id}.background.log`));
});

test('the background dump fails: wait-for fails with its error and its log, no manifest exists', async () => {
  const out = tempDir('out');
  const failing = wrapperBinDir(
    cluster.binDir,
    'sleep 1; echo "pg_dump: error: query failed: out of luck" >&2; exit 3',
  );
  const first = await runAction('backup', inputs(out, { 'pg-bin-dir': failing }), { env: s3.env });
  expect(first.exitCode).toBe(0);
  const id = first.outputs['backup-id'] as string;
  const waited = await waitFor(out, id);
  expect(waited.exitCode).toBe(1);
  expect(waited.errors).toHaveLength(1);
  expect(waited.errors[0]).toMatch(
    new RegExp(
      `The background backup ${id} failed: pg_dump failed: .*exited with code 3.*out of luck.*Its log: .*${id}\\.background\\.log`,
    ),
  );
  expect(waited.outputs.status).toBe('failed');
  expect(waited.outputs['manifest-path']).toBeUndefined();
  expect(waited.summary).toMatch(/<td>Dump<\/td><td>❌ failed/);
  expect(filesIn(out).filter((f) => /\.(dump|manifest\.json|partial)$/.test(f))).toEqual([]);
  expectNoSecret(waited);
  expectNoSecretInLog(path.join(out, `${id}.background.log`));
});

test('wait-timeout: the background dump is stopped, the step fails, nothing is named', async () => {
  const out = tempDir('out');
  const stall = wrapperBinDir(cluster.binDir, '"$REAL" "$@" | { head -c 5000; sleep 30; cat; }');
  const first = await runAction('backup', inputs(out, { 'pg-bin-dir': stall }), { env: s3.env });
  expect(first.exitCode).toBe(0);
  const id = first.outputs['backup-id'] as string;
  const waited = await waitFor(out, id, { 'wait-timeout': '2s' });
  expect(waited.exitCode).toBe(1);
  expect(waited.errors).toHaveLength(1);
  expect(waited.errors[0]).toMatch(
    /did not finish within wait-timeout \(2\.00s\) and was stopped\..*Its log: /,
  );
  expect(filesIn(out).filter((f) => /\.(dump|manifest\.json|partial)$/.test(f))).toEqual([]);
  expect(readFileSync(path.join(out, `${id}.background.log`), 'utf8')).toContain('Received SIGTERM');
});

test('bad combinations are refused before any side effect', async () => {
  const out = tempDir('out');
  const hooks = markerHooks(tempDir('hooks'));
  const snaps = await databases('shop_snap_%');
  const cases: [Record<string, string>, RegExp][] = [
    [
      inputs(out, { snapshot: 'true', ...hooks }),
      /Input "dump" is "background", which needs "snapshot: first" .*got snapshot "true"/,
    ],
    [
      inputs(out, { snapshot: 'false', ...hooks }),
      /Input "dump" is "background", which needs "snapshot: first"/,
    ],
    [inputs(out, { snapshot: 'later' }), /Input "snapshot" must be true, false or first, got "later"/],
    [inputs(out, { dump: 'soon' }), /Input "dump" must be one of now, background, got "soon"/],
    [
      { 'wait-for': 'shop-20250101T020304Z-ab12', 'output-dir': out, ...hooks },
      /Input "stop-command" cannot be used with "wait-for"/,
    ],
    [{ 'wait-for': '../../etc/passwd', 'output-dir': out }, /Input "wait-for" must be a backup id/],
    [
      { 'wait-for': 'shop-20250101T020304Z-ab12', 'output-dir': out },
      /No background backup shop-20250101T020304Z-ab12 in .*does not exist/,
    ],
  ];
  for (const [given, message] of cases) {
    const result = await runAction('backup', given, { env: s3.env });
    expect(result.exitCode).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(message);
    expectNoSecret(result);
  }
  expect(existsSync(hooks.stopped)).toBe(false);
  expect(filesIn(out)).toEqual([]);
  expect(await databases('shop_snap_%')).toEqual(snaps);
});
