import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';

import { rollbackNames } from '../../src/postgres/side-names';
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
import { SUPERUSER_PASSWORD, useCluster } from '../harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const fx = useCluster('rollback-preflight');
const ROLE_PASSWORD = 'r0le:p@ss/word';
let backup: MadeBackup;
let migrated: unknown;

beforeAll(async () => {
  await seedShop(fx.cluster, 'shop');
  backup = await makeBackup(fx.cluster, 'shop', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'shop');
  migrated = await fingerprintsOf(fx.cluster, 'shop', PROTECTED);
});

async function rollback(inputs: Record<string, string>): Promise<ActionResult> {
  const result = await runAction('rollback', { 'database-url': fx.cluster.url('shop'), ...inputs });
  expect(leakedSecret(result, fx.cluster.password)).toBe(false);
  expect(leakedSecret(result, ROLE_PASSWORD)).toBe(false);
  return result;
}

/** Production untouched: same fingerprints, no side or failed database, connections allowed. */
async function expectUntouched(database = 'shop', fingerprints = migrated): Promise<void> {
  expect(await fingerprintsOf(fx.cluster, database, PROTECTED)).toEqual(fingerprints);
  expect(await databasesLike(fx.cluster, `${database}_`)).toEqual([]);
  const [row] = await fx.cluster.query<{ a: boolean }>(
    'SELECT datallowconn AS a FROM pg_database WHERE datname = $1',
    'postgres',
    [database],
  );
  expect(row?.a).toBe(true);
}

function writeManifest(name: string, change: (m: Record<string, unknown>) => void, from = backup): string {
  const m = JSON.parse(readFileSync(from.manifestFile, 'utf8')) as Record<string, unknown>;
  change(m);
  const file = path.join(path.dirname(from.manifestFile), name);
  writeFileSync(file, JSON.stringify(m));
  return file;
}

test('a dump of another database with the same protected tables and row counts is refused: the archive names its database', async () => {
  await seedShop(fx.cluster, 'twin');
  const twin = await makeBackup(fx.cluster, 'twin', { dir: fx.dir, protectedTables: PROTECTED });
  // Everything the old checks compared matches: same rows, fingerprints and counts; only the database differs.
  expect(twin.manifest.fingerprints).toEqual(backup.manifest.fingerprints);
  const forged = writeManifest('forged.manifest.json', (m) => (m.database = 'shop'), twin);
  const result = await rollback({ manifest: forged });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toContain(
    `The dump ${twin.dumpFile} is an archive of database "twin", but the manifest says "shop": refused`,
  );
  await expectUntouched();
});

test('a manifest from another cluster (system identifier) is refused before any change', async () => {
  const other = writeManifest('other-cluster.manifest.json', (m) => {
    (m.server as Record<string, unknown>).systemIdentifier = '7000000000000000001';
  });
  const result = await rollback({ manifest: other });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(
    /was taken on the cluster with system identifier 7000000000000000001 .*this server's is \d+: refused/,
  );
  await expectUntouched();
});

test.each([
  [
    'a directory',
    (dir: string) => mkdirSync(path.join(dir, 'dir.manifest.json'), { recursive: true }),
    'is a directory',
  ],
  ['a device', () => undefined, 'is not a regular file'],
  [
    'over 64 MiB',
    (dir: string) => {
      const file = path.join(dir, 'huge.manifest.json');
      writeFileSync(file, '');
      truncateSync(file, 65 << 20);
    },
    'is 65.0 MiB, over the 64.0 MiB a manifest may be',
  ],
])(
  'a manifest input that is %s is refused with the input and the path, before anything else',
  async (_what, make, said) => {
    make(fx.dir);
    const file =
      said === 'is a directory'
        ? path.join(fx.dir, 'dir.manifest.json')
        : said === 'is not a regular file'
          ? '/dev/zero'
          : path.join(fx.dir, 'huge.manifest.json');
    const result = await rollback({ manifest: file });
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    const errors = result.errors.join('\n');
    expect(errors).toContain(`Input "manifest": manifest ${file} `);
    expect(errors).toContain(said);
    expect(result.logs).not.toMatch(/EISDIR|Invalid string length/);
    await expectUntouched();
  },
);

test('a TLS failure while connecting is refused (nothing changed), naming the server and the TLS mode', async () => {
  // The test cluster has no TLS: sslmode=require cannot be honoured.
  const result = await rollback({
    'database-url': `${fx.cluster.url('shop')}?sslmode=require`,
    manifest: backup.manifestFile,
  });
  expect(result.exitCode).not.toBe(0);
  expect(result.outputs.verdict).toBe('refused');
  expect(result.errors.join('\n')).toMatch(
    new RegExp(
      `Could not connect to 127\\.0\\.0\\.1:${fx.cluster.port} as "postgres" \\(database "postgres", sslmode require\\): .*SSL`,
    ),
  );
  await expectUntouched();
});

test('a role without CREATEDB is refused in the preflight, naming what it lacks', async () => {
  await fx.cluster.query(`CREATE ROLE rb_nocreate LOGIN PASSWORD '${ROLE_PASSWORD.replace(/'/g, "''")}'`);
  await fx.cluster.query('ALTER DATABASE shop OWNER TO rb_nocreate');
  try {
    const result = await rollback({
      'database-url': fx.cluster.url('shop', 'rb_nocreate', ROLE_PASSWORD),
      manifest: backup.manifestFile,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    expect(result.errors.join('\n')).toMatch(/Role "rb_nocreate" cannot roll back "shop": it lacks CREATEDB/);
    await expectUntouched();
  } finally {
    await fx.cluster.query('ALTER DATABASE shop OWNER TO postgres');
  }
});

test("a superuser's session on the live database, which the role may not end, is refused at the swap: nothing changed", async () => {
  await fx.cluster.query(
    `CREATE ROLE rb_owner LOGIN CREATEDB PASSWORD '${ROLE_PASSWORD.replace(/'/g, "''")}'`,
  );
  await seedShop(fx.cluster, 'owned');
  await fx.cluster.query('ALTER DATABASE owned OWNER TO rb_owner');
  await fx.cluster.query(
    'ALTER TABLE products OWNER TO rb_owner; ALTER TABLE orders OWNER TO rb_owner; ALTER TABLE order_items OWNER TO rb_owner',
    'owned',
  );
  const owned = await makeBackup(fx.cluster, 'owned', { dir: fx.dir, protectedTables: PROTECTED });
  await migrateShop(fx.cluster, 'owned');
  const before = await fingerprintsOf(fx.cluster, 'owned', PROTECTED);
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: fx.cluster.port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    database: 'owned',
    application_name: 'dba console',
  });
  await admin.connect();
  try {
    const pid = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const result = await rollback({
      'database-url': fx.cluster.url('owned', 'rb_owner', ROLE_PASSWORD),
      manifest: owned.manifestFile,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    expect(result.errors.join('\n')).toMatch(
      new RegExp(
        `session\\(s\\) on "owned" cannot be terminated by role "rb_owner" \\(pid ${pid} user postgres application "dba console"`,
      ),
    );
    // Said at the start already, before the whole restore.
    expect(result.logs).toMatch(
      /session\(s\) on "owned" that this role may not terminate: pid \d+ user postgres/,
    );
    // The superuser's session is still there and the database still serves.
    expect((await admin.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    await expectUntouched('owned', before);
  } finally {
    await admin.end();
  }
});

test('a database under the side name that no rollback made is never dropped: refused, nothing changed', async () => {
  const side = rollbackNames('shop', backup.manifest.backupId).side;
  await fx.cluster.query(`CREATE DATABASE "${side}"`);
  await fx.cluster.query("CREATE TABLE notes (t text); INSERT INTO notes VALUES ('someone else''s')", side);
  try {
    const result = await rollback({ manifest: backup.manifestFile });
    expect(result.exitCode).not.toBe(0);
    expect(result.outputs.verdict).toBe('refused');
    expect(result.errors.join('\n')).toContain(
      `"${side}" exists but carries no marker of a rollback of "shop" from backup ${backup.manifest.backupId}`,
    );
    const rows = await fx.cluster.query<{ t: string }>('SELECT t FROM notes', side);
    expect(rows).toEqual([{ t: "someone else's" }]);
    expect(await fingerprintsOf(fx.cluster, 'shop', PROTECTED)).toEqual(migrated);
  } finally {
    await fx.cluster.query(`DROP DATABASE IF EXISTS "${side}"`);
  }
  await expectUntouched();
});
