import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { runAction, type ActionResult } from '../harness/action';
import {
  databasesLike,
  fingerprintsOf,
  leakedSecret,
  makeBackup,
  migrateShop,
  seedShop,
  type MadeBackup,
} from '../harness/make-backup';
import { startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { wrapperBinDir } from './backup-fixture';

const PROTECTED = ['public.orders', 'public.order_items'];
let cluster: PostgresCluster;
let s3: S3Server;
let dir: string;
let appDir: string;
let backup: MadeBackup;
let migrated: unknown;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('rollback-refusals'), startS3()]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-rollback-refusals-'));
  appDir = mkdtempSync(path.join(os.tmpdir(), 'mg-rollback-app-'));
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd: appDir, encoding: 'utf8' }).trim();
  git('init', '-q');
  writeFileSync(path.join(appDir, 'app.txt'), 'v1\n');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '--allow-empty', '-m', 'v1');
  git('tag', 'v1');
  await seedShop(cluster, 'shop');
  await seedShop(cluster, 'other');
  backup = await makeBackup(cluster, 'shop', {
    dir,
    protectedTables: PROTECTED,
    s3: { server: s3, prefix: 'prod/' },
  });
  await migrateShop(cluster, 'shop');
  migrated = await fingerprintsOf(cluster, 'shop', PROTECTED);
});

afterAll(async () => {
  await cluster?.stop();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(appDir, { recursive: true, force: true });
});

async function rollback(extra: Record<string, string>, database = 'shop'): Promise<ActionResult> {
  const result = await runAction(
    'rollback',
    {
      'database-url': cluster.url(database),
      's3-endpoint': s3.endpoint,
      'checksum-mode': 'when-required',
      'app-dir': appDir,
      ...extra,
    },
    { env: s3.env },
  );
  expect(leakedSecret(result, cluster.password)).toBe(false);
  return result;
}

/** Production untouched: same fingerprints, no side or failed database, connections allowed. */
async function expectUntouched(): Promise<void> {
  expect(await fingerprintsOf(cluster, 'shop', PROTECTED)).toEqual(migrated);
  expect(await databasesLike(cluster, 'shop_')).toEqual([]);
  const [row] = await cluster.query<{ a: boolean }>(
    "SELECT datallowconn AS a FROM pg_database WHERE datname = 'shop'",
  );
  expect(row?.a).toBe(true);
}

test('a dump altered in S3 (one byte flipped) is refused before any change', async () => {
  const key = backup.dumpKey!;
  const original = Buffer.from(
    await (
      await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))
    ).Body!.transformToByteArray(),
  );
  const flipped = Buffer.from(original);
  const at = Math.floor(flipped.length / 2);
  flipped[at] = (flipped[at] ?? 0) ^ 0x01;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: flipped }));
  try {
    const result = await rollback({ manifest: backup.manifestUri! });
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    expect(result.errors.join('\n')).toMatch(
      /Checksum mismatch: s3:\/\/backups\/prod\/.*\.dump has sha256 [0-9a-f]{64}, the manifest says/,
    );
    expect(result.summary).toContain('Refused');
    await expectUntouched();
  } finally {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: original }));
  }
});

test('a backup of another database is refused', async () => {
  const result = await rollback({ manifest: backup.manifestFile }, 'other');
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(/is of database "shop", not of "other": refused/);
  expect(await databasesLike(cluster, 'other_')).toEqual([]);
});

test('a previous-ref that does not exist is refused before the swap', async () => {
  const result = await rollback({ manifest: backup.manifestFile, 'previous-ref': 'v0.9-missing' });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(/previous-ref "v0.9-missing" is not a commit/);
  await expectUntouched();
});

test.each(['--upload-pack=x', 'a;b', '../x', 'v1\nmain'])(
  'a malicious previous-ref %j is refused as an input',
  async (ref) => {
    const result = await rollback({ manifest: backup.manifestFile, 'previous-ref': ref });
    expect(result.exitCode).not.toBe(0);
    expect(result.errors.join('\n')).toMatch(/Input "previous-ref"/);
    await expectUntouched();
  },
);

test('strategy in-place without allow-destructive is refused as an input', async () => {
  const result = await rollback({ manifest: backup.manifestFile, strategy: 'in-place' });
  expect(result.exitCode).not.toBe(0);
  expect(result.errors.join('\n')).toMatch(/set allow-destructive: true/);
  await expectUntouched();
});

test('a missing manifest is refused, naming it', async () => {
  const result = await rollback({ manifest: path.join(dir, 'nope.manifest.json') });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(/nope\.manifest\.json does not exist/);
});

test('a snapshot rollback without a snapshot is refused (no fallback)', async () => {
  const result = await rollback({ manifest: backup.manifestFile, strategy: 'snapshot' });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(
    /Snapshot rollback refused: the manifest names no snapshot database/,
  );
  await expectUntouched();
});

test('a restored copy that does not match the manifest is not swapped in; the side database is dropped', async () => {
  const manifest = JSON.parse(readFileSync(backup.manifestFile, 'utf8')) as MadeBackup['manifest'];
  manifest.rowCounts['public.products'] = (manifest.rowCounts['public.products'] ?? 0) + 1;
  const altered = path.join(dir, `${manifest.backupId}.altered.manifest.json`);
  writeFileSync(altered, JSON.stringify(manifest));
  const result = await rollback({ manifest: altered });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(
    /does not match the backup's manifest: public\.products: 300 rows, manifest 301\. Not swapped/,
  );
  expect(result.logs).toMatch(/Dropped the side database "shop_restore_/);
  await expectUntouched();
});

test('a restore that fails while the early checks read: its own error, the side database dropped, production untouched', async () => {
  // pg_restore that dies right after reporting the first table's data loaded (the checks of that
  // table have begun, the other session waits for more).
  const bin = wrapperBinDir(
    cluster.binDir,
    `case " $* " in *" --exit-on-error "*) ;; *) exec "$REAL" "$@";; esac
coproc R { "$REAL" "$@" 2>&1 1>/dev/null; }
while IFS= read -r line <&"\${R[0]}"; do
  echo "$line" >&2
  case "$line" in *"finished item"*"TABLE DATA"*) sleep 0.2; kill -TERM "$R_PID" 2>/dev/null; echo "pg_restore: error: cut off by the test" >&2; exit 1;; esac
done
wait "$R_PID"`,
    'pg_restore',
  );
  const result = await rollback({ manifest: backup.manifestFile, 'pg-bin-dir': bin });
  rmSync(bin, { recursive: true, force: true });
  expect(result.exitCode).not.toBe(0);
  expect(result.errors.join('\n')).toMatch(/Restore into "shop_restore_[^"]+" failed: .*cut off by the test/);
  expect(result.logs).toMatch(/Dropped the side database "shop_restore_/);
  expect(await databasesLike(cluster, 'shop_')).toEqual([]);
  await expectUntouched();
  // pg_restore's own lines went through the log with its progress left out, and no secret in them.
  expect(result.logs).not.toMatch(/launching item|processing data for table/);
  expect(leakedSecret(result, cluster.password)).toBe(false);
});

test('the existing tag resolves and the restore goes through in-place when allowed', async () => {
  const result = await rollback({
    manifest: backup.manifestFile,
    strategy: 'in-place',
    'allow-destructive': 'true',
    'previous-ref': 'v1',
    'max-duration': '1ms',
  });
  expect(result.errors).toEqual([]);
  expect(result.outputs.verdict).toBe('restored');
  expect(await fingerprintsOf(cluster, 'shop', PROTECTED)).toEqual(backup.manifest.fingerprints);
  expect(await databasesLike(cluster, 'shop_')).toEqual([]);
  expect(result.outputs['failed-database']).toBe('');
  // Slower than max-duration with on-slow warn (the default): a warning, not a failure.
  expect(result.logs).toMatch(
    /::warning title=Rollback slower than max-duration::The rollback took [\d.]+s, over max-duration \(0.001s\)/,
  );
});
